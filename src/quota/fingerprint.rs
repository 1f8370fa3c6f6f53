//! The keyed fingerprint that names an API key in Redis: the key itself is never
//! written there, and the fingerprint cannot be reversed or checked against a guess
//! without also knowing the domain string (an HMAC-like construction over SHA-256).

use sha2::{Digest, Sha256};

/// The domain string the fingerprint is keyed with. Changing it gives every key a new
/// fingerprint (and with it a fresh quota in Redis).
const DOMAIN: &[u8] = b"quotaswarm quota-store fingerprint v1";

/// The fingerprint of `key`: 32 hex digits of `SHA-256(D ‖ SHA-256(D ‖ key))`, `D` a
/// fixed domain string (the HMAC shape, with the domain in the key's place).
pub fn key_fingerprint(key: &str) -> String {
    let inner = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update([0u8])
        .chain_update(key.as_bytes())
        .finalize();
    let outer = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update([1u8])
        .chain_update(inner)
        .finalize();
    outer.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_stable_distinct_and_never_contains_the_key() {
        let a = key_fingerprint("sk-ant-secret-123");
        assert_eq!(a, key_fingerprint("sk-ant-secret-123"));
        assert_ne!(a, key_fingerprint("sk-ant-secret-124"));
        assert_eq!(a.len(), 32);
        assert!(!a.contains("secret"));
    }
}
