//! SMART health from `smartctl --json -H -A DEV` (smartmontools 7 and
//! later): the overall self-assessment, NVMe "percentage used", ATA
//! reallocated sectors. smartctl's exit status is a bit mask; bits 0–1
//! (bad command line, device could not be opened) mean nothing is known,
//! the others still come with the JSON document read here.

use keepup_model::host::SmartDisk;
use serde_json::Value;

/// The health of `device` from smartctl's JSON output.
pub fn parse(device: &str, json: &str) -> SmartDisk {
    let mut disk = SmartDisk {
        device: device.to_owned(),
        ..SmartDisk::default()
    };
    let doc: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            disk.error = Some(format!("smartctl's output is not JSON: {e}"));
            return disk;
        }
    };
    let exit = doc
        .pointer("/smartctl/exit_status")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    disk.passed = doc.pointer("/smart_status/passed").and_then(Value::as_bool);
    disk.percentage_used = doc
        .pointer("/nvme_smart_health_information_log/percentage_used")
        .and_then(Value::as_u64)
        .and_then(|p| u32::try_from(p).ok());
    disk.reallocated_sectors = doc
        .pointer("/ata_smart_attributes/table")
        .and_then(Value::as_array)
        .and_then(|table| {
            table
                .iter()
                .find(|a| a.get("id").and_then(Value::as_u64) == Some(5))?
                .pointer("/raw/value")?
                .as_u64()
        });
    if disk.passed.is_none() {
        let message = doc
            .pointer("/smartctl/messages")
            .and_then(Value::as_array)
            .and_then(|m| m.first())
            .and_then(|m| m.get("string"))
            .and_then(Value::as_str)
            .unwrap_or("smartctl reported no health status");
        disk.error = Some(if exit & 0b11 != 0 {
            format!("unknown: {message}")
        } else {
            message.to_owned()
        });
    }
    disk
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_smartctl_cannot_read_is_unknown() {
        // Real output of smartctl 7.3 (Debian) on this machine's virtio disk.
        let d = parse(
            "/dev/vda",
            include_str!("../tests/samples/smartctl-no-device-type.json"),
        );
        assert_eq!(d.passed, None);
        assert_eq!(
            d.error.as_deref(),
            Some("unknown: /dev/vda: Unable to detect device type")
        );
    }

    #[test]
    fn nvme_and_ata_health_are_read() {
        // Shaped after the fields smartmontools documents for its JSON
        // output (smart_status, nvme_smart_health_information_log,
        // ata_smart_attributes.table[].raw.value).
        let nvme = parse(
            "/dev/nvme0",
            include_str!("../tests/samples/smartctl-nvme.json"),
        );
        assert_eq!(
            (nvme.passed, nvme.percentage_used, nvme.error),
            (Some(true), Some(7), None)
        );
        let ata = parse(
            "/dev/sda",
            include_str!("../tests/samples/smartctl-ata-failing.json"),
        );
        assert_eq!(
            (ata.passed, ata.reallocated_sectors),
            (Some(false), Some(1184))
        );
        assert!(
            parse("/dev/sdz", "Permission denied")
                .error
                .unwrap()
                .contains("not JSON")
        );
    }
}
