//! Placeholder until the Go-compatible encoder lands.
pub fn marshal(v: &serde_json::Value) -> String {
    serde_json::to_string(v).expect("JSON values serialize")
}
