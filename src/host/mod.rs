//! TEMP stub
#[derive(Debug, Clone, serde::Serialize)]
pub struct HostFacts {
    pub total_ram_bytes: u64,
    pub usable_cpus: u32,
}
impl HostFacts {
    pub fn tuning_ram_bytes(&self) -> u64 {
        self.total_ram_bytes
    }
    pub fn limit_description(&self) -> String {
        "cgroup limit none".into()
    }
}
pub fn probe(_d: Option<&std::path::Path>) -> anyhow::Result<HostFacts> {
    Ok(HostFacts {
        total_ram_bytes: 24 << 30,
        usable_cpus: 2,
    })
}
