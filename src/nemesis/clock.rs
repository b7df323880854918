//! stub
/// stub
pub fn shim_unavailable() -> Option<String> {
    None
}
