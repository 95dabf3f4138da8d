//! TEMP stub
pub fn table(_f: &crate::host::HostFacts) -> String {
    String::new()
}
