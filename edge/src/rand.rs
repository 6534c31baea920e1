//! Randomness from the Workers runtime's CSPRNG (`crypto.getRandomValues`).

use worker::wasm_bindgen;
use worker::wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// `N` random bytes.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    get_random_values(&mut buf);
    buf
}

/// A fresh ticket id: 128 random bits as 32 lowercase hex characters.
pub fn ticket_id() -> String {
    bytes::<16>().iter().map(|b| format!("{b:02x}")).collect()
}
