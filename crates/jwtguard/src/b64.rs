//! Strict base64url (RFC 4648 section 5) without padding, as JWS requires.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes base64url text. Padding, characters outside the URL-safe
/// alphabet and non-zero unused trailing bits are all errors, so every
/// byte string has exactly one accepted encoding.
pub(crate) fn decode(text: &[u8]) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(text)
}

/// Decodes base64url text into `output` with the rules of [`decode`] and
/// returns the decoded length. Fails with `OutputSliceTooSmall`, possibly
/// before checking every character, when `output` is too short.
pub(crate) fn decode_slice(
    text: &[u8],
    output: &mut [u8],
) -> Result<usize, base64::DecodeSliceError> {
    URL_SAFE_NO_PAD.decode_slice(text, output)
}
