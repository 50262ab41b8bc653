module github.com/ballast-rs/ballast/integrations/go

go 1.19
