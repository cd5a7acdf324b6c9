//! The http-lb's word for a client's address across pods: `X-Oryx-Forwarded` carries a timestamp
//! and an HMAC-SHA256 under the control secret over the client address the http-lb put in
//! `X-Forwarded-For`. A worker in pod mode cannot trust the http-lb by its address (pod IPs are not
//! known in advance), so it believes `X-Forwarded-For` only with a valid one; a client's own header
//! of that name is replaced by the http-lb, and one replayed later than [`WINDOW_SECS`] is refused.

use hmac::Mac;

/// The header's name.
pub const HEADER: &str = "x-oryx-forwarded";
/// How far the timestamp may be from the worker's clock, either way.
pub const WINDOW_SECS: u64 = 30;
const LABEL: &[u8] = b"oryx forwarded v1";

fn mac(key: &[u8], client: &str, stamp: u64) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .expect("HMAC takes keys of any length");
    mac.update(LABEL);
    mac.update(&stamp.to_be_bytes());
    mac.update(client.as_bytes());
    mac
}

/// The header's value for `client` (the address text put in `X-Forwarded-For`): `STAMP.HEX`.
pub fn sign(key: &[u8], client: &str, now_secs: u64) -> String {
    let tag = mac(key, client, now_secs).finalize().into_bytes();
    format!("{now_secs}.{}", hex::encode(tag))
}

/// Whether `value` vouches for `client` under `key` at `now_secs`.
pub fn verify(key: &[u8], client: &str, value: &str, now_secs: u64) -> bool {
    let Some((stamp, tag)) = value.split_once('.') else {
        return false;
    };
    let (Ok(stamp), Ok(tag)) = (stamp.parse::<u64>(), hex::decode(tag)) else {
        return false;
    };
    now_secs.abs_diff(stamp) <= WINDOW_SECS && mac(key, client, stamp).verify_slice(&tag).is_ok()
}

/// [`sign`] with this process's control secret, now.
pub fn sign_now(client: &str) -> String {
    sign(super::pod::proxy_key(), client, super::pod::unix_now())
}

/// [`verify`] with this process's control secret, now.
pub fn verify_now(client: &str, value: &str) -> bool {
    verify(
        super::pod::proxy_key(),
        client,
        value,
        super::pod::unix_now(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_signed_address_within_the_window_under_the_key_passes() {
        let value = sign(b"k", "203.0.113.7", 1000);
        assert!(verify(b"k", "203.0.113.7", &value, 1000));
        assert!(verify(b"k", "203.0.113.7", &value, 1000 + WINDOW_SECS));
        assert!(!verify(b"k", "203.0.113.7", &value, 1000 + WINDOW_SECS + 1));
        assert!(
            !verify(b"k", "198.51.100.1", &value, 1000),
            "another address"
        );
        assert!(
            !verify(b"other", "203.0.113.7", &value, 1000),
            "another key"
        );
        for junk in [
            "",
            ".",
            "1000",
            "1000.zz",
            "x.00",
            "1000.00",
            "99999999999999999999.00",
        ] {
            assert!(!verify(b"k", "203.0.113.7", junk, 1000), "{junk:?}");
        }
    }
}
