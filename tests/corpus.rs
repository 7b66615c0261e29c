//! Malformed and hostile export files: the hand-made ones of `tests/fixtures/bad/` (its README
//! says what each breaks) and huge ones generated here. `import -f` on each exits 1 with one
//! message naming the file (and the line where one makes sense), never panics, and changes
//! nothing in the cluster; `verify -f` exits 1, or 3 where the file reads but its objects cannot
//! be what the cluster holds. Huge files are read in bounded memory and time.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::{assert_contains, plugin, stderr};
use serde_json::Value;
use testbed::kube_side::KubeSide;

/// Where a file's message points.
#[derive(Clone, Copy, Debug)]
enum At {
    /// `FILE:LINE:` (and maybe a column).
    Line(usize),
    /// The whole file: `FILE: `.
    File,
    /// One object of a file that reads: the message names the file and the object.
    Object(&'static str),
}

/// Every bad file, where its message points, and a part of the message.
const CORPUS: &[(&str, At, &str)] = &[
    ("empty.txt", At::File, "the file is empty"),
    (
        "truncated-in-first-item.txt",
        At::File,
        "found 1 part where an export file has 3",
    ),
    (
        "truncated-after-first-document.txt",
        At::File,
        "found 1 part",
    ),
    (
        "truncated-before-first-separator.txt",
        At::File,
        "found 1 part",
    ),
    (
        "truncated-after-first-separator.txt",
        At::File,
        "found 2 parts",
    ),
    (
        "truncated-in-cluster-information.txt",
        At::File,
        "found 2 parts",
    ),
    (
        "truncated-after-second-separator.txt",
        At::Line(62),
        "the third part, the IPAM JSON, is empty",
    ),
    (
        "truncated-in-ipam.txt",
        At::Line(100),
        "the IPAM JSON ends early",
    ),
    (
        "truncated-in-ipam-string.txt",
        At::Line(102),
        "the IPAM JSON ends early (EOF while parsing a string)",
    ),
    (
        "separator-with-trailing-space.txt",
        At::Line(44),
        "line 44 has blanks around its \"===\"",
    ),
    (
        "separator-indented.txt",
        At::Line(44),
        "a separator is a line that is exactly \"===\"",
    ),
    ("dashes-instead-of-separators.txt", At::File, "found 1 part"),
    ("four-parts.txt", At::File, "found 4 parts"),
    (
        "separators-only.txt",
        At::Line(2),
        "the ClusterInformation JSON, is empty",
    ),
    (
        "merge-conflict-markers.txt",
        At::Line(13),
        "invalid YAML in list document 1",
    ),
    ("binary-garbage.bin", At::Line(1), "is not UTF-8 text"),
    (
        "gzip-compressed.txt.gz",
        At::Line(1),
        "the file is gzip-compressed: decompress it first",
    ),
    ("utf16.txt", At::Line(1), "the file is UTF-16 text"),
    (
        "latin1-in-yaml.txt",
        At::Line(30),
        "not UTF-8 text (byte 0xE9",
    ),
    (
        "invalid-utf8-in-ipam.txt",
        At::Line(115),
        "not UTF-8 text (byte 0xFF",
    ),
    (
        "nul-bytes.txt",
        At::Line(15),
        "control characters are not allowed",
    ),
    ("tab-indentation.txt", At::Line(12), "found a tab character"),
    (
        "bad-indentation.txt",
        At::Line(12),
        "mapping values are not allowed",
    ),
    (
        "unterminated-quote.txt",
        At::Line(8),
        "while scanning a quoted scalar",
    ),
    (
        "document-not-a-list.txt",
        At::Line(1),
        "has kind \"IPPool\"",
    ),
    (
        "document-is-a-scalar.txt",
        At::Line(1),
        "list document 1 is a string",
    ),
    (
        "document-is-null.txt",
        At::Line(1),
        "list document 1 is null",
    ),
    (
        "items-not-a-list.txt",
        At::Line(1),
        "items is a number, not a list",
    ),
    (
        "item-is-a-string.txt",
        At::Line(18),
        "item 2 of list document 1 is a string",
    ),
    (
        "item-without-kind.txt",
        At::Line(3),
        "item 1 of list document 1 has no kind",
    ),
    ("item-without-name.txt", At::Line(3), "has no metadata.name"),
    (
        "duplicate-items-key.txt",
        At::Line(1),
        "more than one items key",
    ),
    (
        "unknown-anchor.txt",
        At::Line(16),
        "unknown anchor 'selector'",
    ),
    (
        "anchor-in-another-item.txt",
        At::Line(24),
        "unknown anchor 'nat'",
    ),
    ("billion-laughs.txt", At::Line(25), "excessive aliasing"),
    (
        "deeply-nested-flow.txt",
        At::Line(16),
        "exceeded max depth of nested collections",
    ),
    (
        "deeply-nested-block.txt",
        At::Line(10),
        "exceeded max depth of nested collections",
    ),
    ("kubectl-get-json.json", At::File, "found 1 part"),
    ("kubectl-get-yaml.yaml", At::File, "found 1 part"),
    ("html-error-page.html", At::File, "found 1 part"),
    (
        "unknown-kind.txt",
        At::Object("FooBar default-ipv4-ippool"),
        "unknown kind FooBar",
    ),
    (
        "kind-not-migrated.txt",
        At::Object("WorkloadEndpoint default-ipv4-ippool"),
        "is not migrated",
    ),
    (
        "name-too-long.txt",
        At::Object("IPPool aaaa"),
        "must be no more than 253 characters",
    ),
    (
        "name-invalid-characters.txt",
        At::Object("IPPool Default_IPv4_Pool!"),
        "invalid name",
    ),
    (
        "spec-wrong-type.txt",
        At::Object("IPPool default-ipv4-ippool"),
        "spec.blockSize: expected an integer",
    ),
    (
        "cidr-not-a-network.txt",
        At::Object("IPPool default-ipv4-ippool"),
        "CIDR must be a valid subnet",
    ),
    (
        "cluster-information-as-yaml.txt",
        At::Line(45),
        "invalid JSON in the ClusterInformation part",
    ),
    (
        "cluster-information-wrong-kind.txt",
        At::Line(45),
        "holds kind \"IPPool\", not a ClusterInformation",
    ),
    (
        "cluster-information-is-a-list.txt",
        At::Line(45),
        "the ClusterInformation part is a list",
    ),
    ("ipam-as-yaml.txt", At::Line(62), "invalid IPAM JSON"),
    (
        "ipam-unknown-field.txt",
        At::Line(100),
        "unknown field \"handlez\"",
    ),
    (
        "ipam-duplicate-section.txt",
        At::Line(112),
        "field \"blocks\" appears twice",
    ),
    (
        "ipam-key-of-another-section.txt",
        At::Line(102),
        "is not an IPAM handle key",
    ),
    (
        "ipam-value-not-an-object.txt",
        At::Line(66),
        "Value is a string, not a JSON object",
    ),
    ("ipam-ttl-not-a-number.txt", At::Line(71), "TTL is a string"),
    (
        "ipam-trailing-garbage.txt",
        At::Line(121),
        "trailing characters",
    ),
];

fn bad(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(name)
}

/// What the cluster holds that a failed import must leave alone: the Calico CRDs and the
/// ConfigMaps of the install's namespace (the migration's journal is one), and on the local
/// server its count of writes.
fn cluster_state(kube: &KubeSide) -> (Vec<String>, Vec<String>, Option<u64>) {
    let names = |path: &str| -> Vec<String> {
        let list = kube.get_json(path).unwrap().unwrap_or(Value::Null);
        let mut names: Vec<String> = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names
    };
    let crds = names("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
        .into_iter()
        .filter(|name| name.ends_with("projectcalico.org"))
        .collect();
    let config_maps = names(&format!(
        "/api/v1/namespaces/{}/configmaps",
        kube.namespace()
    ));
    (crds, config_maps, kube.faults().map(|f| f.writes()))
}

fn run(kube: &KubeSide, command: &str, file: &Path) -> Output {
    plugin(kube.kubeconfig())
        .args(["-n", kube.namespace(), command, "-f"])
        .arg(file)
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

/// No panic, and exactly one error, naming the file.
#[track_caller]
fn assert_one_clear_error(output: &Output, file: &Path) -> String {
    let text = stderr(output);
    assert_ne!(output.status.code(), Some(101), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert_eq!(text.matches("error: ").count(), 1, "one error:\n{text}");
    assert_contains(&text, &file.display().to_string());
    text
}

#[test]
fn every_bad_file_fails_clearly_and_changes_nothing() {
    let listed: Vec<&str> = CORPUS.iter().map(|(name, ..)| *name).collect();
    let mut present: Vec<String> = std::fs::read_dir(bad(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md" && name != "valid.txt")
        .collect();
    present.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        present, sorted,
        "every file of tests/fixtures/bad is in CORPUS"
    );
    assert!(CORPUS.len() >= 30);

    let kube = KubeSide::start().unwrap();
    // The file they all come from imports (a dry run writes nothing): a failure below is the
    // breakage, not the harness.
    let before = cluster_state(&kube);
    let valid = plugin(kube.kubeconfig())
        .args(["-n", kube.namespace(), "import", "--dry-run", "-f"])
        .arg(bad("valid.txt"))
        .output()
        .unwrap();
    assert_eq!(valid.status.code(), Some(0), "{}", stderr(&valid));

    for (name, at, message) in CORPUS {
        let file = bad(name);
        let output = run(&kube, "import", &file);
        assert_eq!(
            output.status.code(),
            Some(1),
            "import {name}: {}",
            stderr(&output)
        );
        let text = assert_one_clear_error(&output, &file);
        let shown = file.display();
        match at {
            At::Line(line) => assert!(
                text.contains(&format!("error: {shown}:{line}:")),
                "import {name}: line {line} expected:\n{text}"
            ),
            At::File => assert_contains(&text, &format!("error: {shown}: ")),
            At::Object(object) => {
                assert_contains(&text, "nothing was changed");
                assert_contains(&text, object);
            }
        }
        assert_contains(&text, message);
        assert_eq!(
            cluster_state(&kube),
            before,
            "import {name} changed the cluster"
        );
    }

    // verify reads the same files against a cluster that has the CRDs.
    kube.install_crds().unwrap();
    for (name, at, _) in CORPUS {
        let file = bad(name);
        let output = run(&kube, "verify", &file);
        let expected = match at {
            At::Object(_) => 3,
            _ => 1,
        };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "verify {name}: {}",
            stderr(&output)
        );
        assert_one_clear_error(&output, &file);
    }
}

/// Runs the plugin as a child and reaps it with `wait4`: its exit code, stderr, peak resident
/// memory in MiB, and wall time.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by wait4, which std's wait cannot replace"
)]
fn measured(kube: &KubeSide, args: &[&str], file: &Path) -> (Option<i32>, String, u64, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let err = dir.path().join("stderr");
    let started = Instant::now();
    let child = common::plugin_process(kube.kubeconfig())
        .args(["-n", kube.namespace()])
        .args(args)
        .arg("-f")
        .arg(file)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed is a valid value; the pid is our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    let elapsed = started.elapsed();
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    let text = std::fs::read_to_string(&err).unwrap();
    (code, text, (usage.ru_maxrss as u64) >> 10, elapsed)
}

/// Writes a generated file: `head`, then `repeat` written `times` times, then `tail`.
fn generate(path: &Path, head: &str, repeat: &str, times: usize, tail: &str) {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(head.as_bytes()).unwrap();
    for _ in 0..times {
        out.write_all(repeat.as_bytes()).unwrap();
    }
    out.write_all(tail.as_bytes()).unwrap();
    out.flush().unwrap();
}

const MIB: usize = 1 << 20;

#[test]
fn huge_files_are_refused_in_bounded_memory_and_time() {
    let valid = std::fs::read_to_string(bad("valid.txt")).unwrap();
    let (yaml, rest) = valid.split_once("===\n").unwrap();
    let (info, ipam) = rest.split_once("===\n").unwrap();
    let parts_2_and_3 = format!("===\n{info}===\n{ipam}");
    let item = "apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    name: huge\n  spec:\n    cidr: 10.1.0.0/16\n";
    let list_end = "kind: IPPoolList\n---\n";
    // Each case: the file, where its message points, a part of the message.
    type Case<'a> = (
        &'static str,
        Box<dyn Fn(&Path) + 'a>,
        Option<usize>,
        &'static str,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            // 120 MiB on one line inside an object.
            "long-line-in-yaml.txt",
            Box::new(|p| {
                generate(
                    p,
                    &format!("{item}    description: "),
                    "a",
                    120 * MIB,
                    &format!("\n{list_end}{parts_2_and_3}"),
                )
            }),
            Some(9),
            "the line is longer than 8 MiB",
        ),
        (
            // 120 MiB without a line break at all.
            "one-line-no-newline.txt",
            Box::new(|p| generate(p, "", "b", 120 * MIB, "")),
            None,
            "found 1 part",
        ),
        (
            // The IPAM JSON on one line, one entry 120 MiB long.
            "long-ipam-entry.txt",
            Box::new(|p| {
                generate(
                    p,
                    &format!(
                        "{yaml}===\n{info}===\n{{\"handles\": [{{\"Key\": \"/calico/ipam/v2/handle/h\", \"Value\": {{\"x\": \""
                    ),
                    "c",
                    120 * MIB,
                    "\"}, \"TTL\": 0}]}\n",
                )
            }),
            None,
            "an entry of the IPAM JSON is longer than 8 MiB",
        ),
        (
            // One streamed object of 1.5 million short lines (12 MiB).
            "long-item.txt",
            Box::new(|p| {
                generate(
                    p,
                    &format!("{item}    list:\n"),
                    "    - 1\n",
                    12 * MIB / 8,
                    &format!("{list_end}{parts_2_and_3}"),
                )
            }),
            None,
            "the item of list document 1 that starts at line 3 is longer than 8 MiB",
        ),
        (
            // A document in a layout that is read whole (items indented), 12 MiB.
            "long-document.txt",
            Box::new(|p| {
                generate(
                    p,
                    "apiVersion: projectcalico.org/v3\nitems:\n  - kind: IPPool\n    metadata: {name: a}\n    spec:\n      list:\n",
                    "      - 1\n",
                    12 * MIB / 10,
                    &format!("{list_end}{parts_2_and_3}"),
                )
            }),
            None,
            "list document 1 is longer than 8 MiB",
        ),
    ];
    let kube = KubeSide::start().unwrap();
    let before = cluster_state(&kube);
    let dir = tempfile::tempdir().unwrap();
    for (name, make, line, message) in &cases {
        let file = dir.path().join(name);
        make(&file);
        let size_mib = std::fs::metadata(&file).unwrap().len() >> 20;
        for command in ["import", "verify"] {
            let (code, text, peak_mib, elapsed) = measured(&kube, &[command], &file);
            assert_eq!(code, Some(1), "{command} {name}: {text}");
            assert!(!text.contains("panicked"), "{text}");
            assert_eq!(text.matches("error: ").count(), 1, "{text}");
            let at = match line {
                Some(line) => format!("error: {}:{line}", file.display()),
                None => format!("error: {}:", file.display()),
            };
            assert_contains(&text, &at);
            assert_contains(&text, message);
            // The whole file is never held: memory stays far below the size of the big ones,
            // and below what parsing the 8 MiB allowed at once costs for the others.
            assert!(
                peak_mib < 100,
                "{command} {name} ({size_mib} MiB) peaked at {peak_mib} MiB"
            );
            assert!(
                elapsed < Duration::from_secs(60),
                "{command} {name} took {elapsed:?}"
            );
            eprintln!("{command} {name} ({size_mib} MiB): {peak_mib} MiB peak, {elapsed:.1?}");
        }
        std::fs::remove_file(&file).unwrap();
    }
    // The YAML bomb and the deep nesting of the corpus are cheap too.
    for name in [
        "billion-laughs.txt",
        "deeply-nested-flow.txt",
        "deeply-nested-block.txt",
    ] {
        let (code, text, peak_mib, elapsed) = measured(&kube, &["import"], &bad(name));
        assert_eq!(code, Some(1), "{text}");
        assert!(peak_mib < 150, "{name} peaked at {peak_mib} MiB");
        assert!(elapsed < Duration::from_secs(30), "{name} took {elapsed:?}");
    }
    assert_eq!(
        cluster_state(&kube),
        before,
        "a huge file changed the cluster"
    );
}
