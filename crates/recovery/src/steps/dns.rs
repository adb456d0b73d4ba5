//! `dns`: the plan's DNS switch ([`crate::dns::switch`]) with the step's
//! zone, primary and TSIG key and the target environment's names (its
//! `dns_names`, else the step's) and addresses (or the step's CNAME). A
//! failure carries the `nsupdate` lines that make the same change by hand.
//!
//! In a drill the environment is the drill's: its `dns_names` (required, and
//! never one of the shop's names) point at its addresses, also when the
//! step writes a `cname` (the alias would lead to the real standby); the
//! drill's cleanup deletes them again, only the records it published
//! ([`crate::dns::remove`]). A drill name that holds other records at the
//! primary fails the step before anything is published.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Done, Failed, StepContext};
use crate::dns::{DnsSwitch, DnsTarget, TsigKey, foreign_records, nsupdate_script, switch};
use keepup_config::dns::DnsSettings;
use keepup_config::recovery::{DnsStep, Environment, TsigKey as ConfiguredKey};
use keepup_probe::ProbeContext;

/// Time one exchange with the primary may take.
const UPDATE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the `nsupdate` lines say the key file is: the person running them
/// puts the key there (the secret is never written out).
pub const KEY_FILE_PLACEHOLDER: &str = "/path/to/tsig.key";

/// The switch a `dns` step makes on `environment` with the plan's TSIG
/// `keys`, and `[dns]` settings `dns` for the verification.
pub fn switch_of(
    step: &DnsStep,
    keys: &[ConfiguredKey],
    environment: &Environment,
    dns: &DnsSettings,
) -> Result<DnsSwitch, Failed> {
    let Some(key) = keys.iter().find(|k| k.id == step.key) else {
        return Err(Failed::because(format!(
            "the TSIG key {:?} is not declared in the plan's [[recovery.tsig_key]]",
            step.key
        )));
    };
    let primary = step
        .server
        .parse::<SocketAddr>()
        .or_else(|_| {
            step.server
                .parse::<IpAddr>()
                .map(|ip| SocketAddr::new(ip, 53))
        })
        .map_err(|_| {
            Failed::because(format!(
                "the dns step's server {:?} is not an address (ip or ip:port)",
                step.server
            ))
        })?;
    let hosts = if environment.dns_names.is_empty() {
        step.names.clone()
    } else {
        environment.dns_names.clone()
    };
    let target = match &step.cname {
        Some(alias) => DnsTarget::Alias(alias.clone()),
        None => DnsTarget::Addresses(environment.addresses.clone()),
    };
    Ok(DnsSwitch {
        zone: step.zone.clone(),
        primary,
        key: TsigKey {
            name: key.name.clone(),
            algorithm: key.algorithm,
            secret: key.secret.clone(),
        },
        hosts,
        target,
        ttl: step.ttl,
        lower_ttl_first: step.lower_ttl_first,
        timeout: UPDATE_TIMEOUT,
        dns: dns.clone(),
        verify_within: step.verify_timeout,
    })
}

/// The switch a `dns` step makes in a drill, and its cleanup deletes: the
/// drill's `dns_names` (never the shop's) at the drill's addresses, also
/// for a `cname` step (the alias would lead to the real standby).
pub fn drill_switch_of(step: &DnsStep, ctx: &StepContext<'_>) -> Result<DnsSwitch, Failed> {
    let drill = ctx.environment();
    if drill.dns_names.is_empty() {
        return Err(Failed::because(
            "the drill environment names no dns_names; a drill never switches the shop's own names",
        ));
    }
    let mut params = switch_of(step, &ctx.plan.tsig_keys, drill, &ctx.config.dns)?;
    params.target = DnsTarget::Addresses(drill.addresses.clone());
    Ok(params)
}

/// Runs a `dns` step.
pub fn run(step: &DnsStep, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    let drill = ctx.kind == keepup_store::DrRunKind::Drill;
    let params = if drill {
        drill_switch_of(step, ctx)?
    } else {
        switch_of(
            step,
            &ctx.plan.tsig_keys,
            ctx.environment(),
            &ctx.config.dns,
        )?
    };
    let by_hand = nsupdate_script(&params, KEY_FILE_PLACEHOLDER);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failed::because(format!("cannot start the DNS runtime: {e}")))?;
    if drill {
        // The switch replaces what the names hold, and the cleanup deletes
        // them: a name in use by anything else is not the drill's to take.
        let foreign = runtime
            .block_on(foreign_records(&params))
            .map_err(|e| Failed::because(e.to_string()))?;
        if !foreign.is_empty() {
            return Err(Failed::because(format!(
                "the drill's names already hold records the drill did not publish ({}); give the drill names nothing else uses",
                foreign.join("; ")
            )));
        }
    }
    match runtime.block_on(switch(&params, &ProbeContext::new())) {
        Ok(report) => {
            let mut output = String::new();
            if let Some((old, waited)) = report.lowered_from {
                output.push_str(&format!(
                    "TTL lowered from {old} s, waited {} s\n",
                    waited.as_secs()
                ));
            }
            for line in &report.verified {
                output.push_str(line);
                output.push('\n');
            }
            output.push_str(&format!(
                "every authoritative server serves it after {} ms\n",
                report.propagated_in.as_millis()
            ));
            Ok(Done { output })
        }
        Err(e) => Err(Failed {
            reason: e.to_string(),
            output: String::new(),
            by_hand: Some(by_hand),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_config::Secret;
    use keepup_config::recovery::TsigAlgorithm;

    fn step() -> DnsStep {
        DnsStep {
            zone: "shop.example".into(),
            names: vec!["www.shop.example".into()],
            server: "192.0.2.53".into(),
            key: "main".into(),
            ttl: 60,
            lower_ttl_first: Some(30),
            cname: None,
            verify_timeout: Duration::from_secs(120),
            before_data: false,
        }
    }

    fn keys() -> Vec<ConfiguredKey> {
        vec![ConfiguredKey {
            id: "main".into(),
            name: "keepup.".into(),
            algorithm: TsigAlgorithm::HmacSha512,
            secret: Secret::new("c2VjcmV0".into()),
        }]
    }

    #[test]
    fn a_step_becomes_the_switch_of_its_environment() {
        let standby = Environment {
            addresses: vec!["198.51.100.20".parse().expect("ip")],
            ..Environment::default()
        };
        let p = switch_of(&step(), &keys(), &standby, &DnsSettings::default()).expect("switch");
        assert_eq!(p.primary, "192.0.2.53:53".parse().expect("addr"));
        assert_eq!(p.hosts, vec!["www.shop.example".to_owned()]);
        assert_eq!(p.target, DnsTarget::Addresses(standby.addresses.clone()));
        assert_eq!(p.key.name, "keepup.");
        assert_eq!(p.lower_ttl_first, Some(30));
        // A drill publishes its own names.
        let drill = Environment {
            dns_names: vec!["drill.shop.example".into()],
            ..standby
        };
        let p = switch_of(&step(), &keys(), &drill, &DnsSettings::default()).expect("switch");
        assert_eq!(p.hosts, vec!["drill.shop.example".to_owned()]);
        let mut unknown = step();
        unknown.key = "other".into();
        let e =
            switch_of(&unknown, &keys(), &drill, &DnsSettings::default()).expect_err("unknown key");
        assert!(e.reason.contains("\"other\""), "{}", e.reason);
    }
}
