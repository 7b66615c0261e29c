//! Loads every dataset into a real etcd and reads it back; loads `large()` and reports how long
//! that took.

use std::time::Instant;

use testbed::calico::Dataset;
use testbed::datasets::{self, Release};
use testbed::{Etcd, EtcdMode};

fn small_datasets() -> Vec<(String, Dataset)> {
    let mut sets = vec![
        (
            "upstream_st_without_ipam".to_string(),
            datasets::upstream_st_without_ipam(),
        ),
        ("upstream_st".to_string(), datasets::upstream_st()),
        ("fqdn_nodes".to_string(), datasets::fqdn_nodes()),
        ("dual_stack_ipam".to_string(), datasets::dual_stack_ipam()),
        ("skipped_data".to_string(), datasets::skipped_data()),
        ("no_ipam".to_string(), datasets::no_ipam()),
        ("unmapped_nodes".to_string(), datasets::unmapped_nodes()),
    ];
    for release in Release::ALL {
        sets.push((
            format!("policies_and_tiers({release:?})"),
            datasets::policies_and_tiers(release),
        ));
    }
    sets
}

fn clear(etcd: &Etcd) {
    testbed::block_on(async {
        let mut client = etcd.client().await?;
        client
            .delete("/", Some(etcd_client::DeleteOptions::new().with_prefix()))
            .await?;
        anyhow::Ok(())
    })
    .expect("clearing etcd");
}

fn count_under(etcd: &Etcd, prefix: &str) -> i64 {
    testbed::block_on(async {
        let mut client = etcd.client().await?;
        let options = etcd_client::GetOptions::new()
            .with_prefix()
            .with_count_only();
        anyhow::Ok(client.get(prefix, Some(options)).await?.count())
    })
    .expect("counting keys")
}

#[test]
fn every_dataset_loads_into_etcd() {
    let etcd = Etcd::start(EtcdMode::Plain).expect("etcd starts");
    for (name, dataset) in small_datasets() {
        clear(&etcd);
        etcd.put_all(dataset.pairs()).expect("put_all");
        let mut stored = etcd.dump("/").expect("dump");
        let mut expected = dataset.kvs.clone();
        expected.sort();
        stored.sort();
        assert_eq!(stored.len(), dataset.kvs.len(), "{name}: key count");
        assert_eq!(stored, expected, "{name}: keys and values read back");
        let e = datasets::expected_export(&dataset);
        let ipam = e.blocks.len()
            + e.block_affinities.len()
            + e.handles.len()
            + usize::from(e.ipam_config)
            + e.skipped_count(datasets::SKIP_VIRTUAL_AFFINITIES);
        let bad_ipam = datasets::SKIPPED_DATA_BAD_KEYS
            .iter()
            .filter(|k| k.starts_with("/calico/ipam/") && dataset.get(k).is_some())
            .count();
        assert_eq!(
            count_under(&etcd, "/calico/ipam/v2/") as usize,
            ipam + bad_ipam,
            "{name}: IPAM keys"
        );
        eprintln!("{name}: {} keys", stored.len());
    }
}

#[test]
fn large_dataset_loads_and_reports_time() {
    let started = Instant::now();
    let dataset = datasets::large(1.0);
    let generated = started.elapsed();
    let etcd = Etcd::start(EtcdMode::Plain).expect("etcd starts");
    let took = dataset.load_into(&etcd).expect("loading large()");
    let count = count_under(&etcd, "/calico/") as usize;
    assert_eq!(count, dataset.kvs.len());
    assert_eq!(count, datasets::large_counts(1.0).total_keys);
    let mb = dataset.byte_size() as f64 / 1e6;
    println!(
        "large(1.0): {count} keys, {mb:.1} MB generated in {generated:.2?}, loaded into etcd in {took:.2?} \
         ({} connections, transactions of {}): {:.0} keys/s",
        datasets::DEFAULT_CONNECTIONS,
        datasets::TXN_OPS,
        count as f64 / took.as_secs_f64()
    );
}
