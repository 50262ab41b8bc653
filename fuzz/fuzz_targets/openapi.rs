//! OpenAPI documents for `ballast contract init --from-openapi`: the written contract,
//! when there is one, must itself load.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(contract) = ballast_contract::contract_from_openapi(text, None) {
            if let Err(e) = ballast_contract::Contract::parse(&contract, "init.yaml", std::path::Path::new(".")) {
                panic!("init wrote a contract that does not load: {e}\n{contract}");
            }
        }
    }
});
