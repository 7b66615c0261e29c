//! Lists cost what kube-apiserver spends on them: one it would read from etcd (paged, or
//! without a resourceVersion) far more than one from its watch cache. In a binary of its own,
//! apart from the create calibration, which reads the process's CPU time.

mod common;

use std::time::Duration;

use common::*;

/// Server CPU accounted to lists during `list`.
fn list_cost(controls: &mini_apiserver::Controls, list: impl FnOnce()) -> Duration {
    verb_cost(controls, "list", list).1
}

#[test]
fn a_list_from_etcd_costs_four_times_what_one_from_the_watch_cache_does() {
    let (s, c) = ippool_server_without_cost();
    let controls = s.controls();
    create_pools(&c, "pool", 200);
    controls.set_cost(1.0);
    let pools = format!("{CALICO}/ippools");
    let cached = list_cost(&controls, || {
        assert_eq!(
            c.get_json(&format!("{pools}?resourceVersion=0"))["items"]
                .as_array()
                .unwrap()
                .len(),
            200
        );
    });
    let paged = list_cost(&controls, || {
        c.get_json(&format!("{pools}?limit=500"));
    });
    let plain = list_cost(&controls, || {
        c.get_json(&pools);
    });
    eprintln!("200 pools: {cached:?} from the watch cache, {paged:?} and {plain:?} from etcd");
    // At least 0.2 ms + 0.03 ms per object from the cache and 0.2 ms + 0.12 ms per object
    // from etcd (a debug build's own work may cost more than the cache's share: no upper bound).
    assert!(cached >= Duration::from_micros(6_200), "{cached:?}");
    for from_etcd in [paged, plain] {
        assert!(from_etcd >= Duration::from_micros(24_200), "{from_etcd:?}");
    }
}
