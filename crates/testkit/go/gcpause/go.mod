module github.com/ballast-rs/ballast/crates/testkit/go/gcpause

go 1.19

require github.com/ballast-rs/ballast/integrations/go v0.0.0

replace github.com/ballast-rs/ballast/integrations/go => ../../../../integrations/go
