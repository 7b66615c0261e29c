//! Installing with krew: `scripts/dist` builds the release archives and the manifest (once per
//! test run), the manifest is checked against krew's rules, the archive is installed the way
//! `kubectl krew install --manifest=... --archive=...` installs it, and the installed plugin runs
//! through the real kubectl. The release binary's glibc floor is checked too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use common::{assert_contains, stderr, stdout};

const PLUGIN: &str = "calico-migrate";
const BIN: &str = "kubectl-calico_migrate";
const COMPLETION_HELPER: &str = "kubectl_complete-calico_migrate";
/// The newest glibc the Linux binary may need: scripts/dist links against 2.17.
const GLIBC_FLOOR: (u32, u32) = (2, 17);
/// The `<os, arch>` pairs krew runs on; a manifest's selectors may not overlap on any of them.
const KREW_PLATFORMS: &[(&str, &str)] = &[
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
];

// krew's plugin manifest, field for field; unknown fields are refused so that a misspelt field
// in the template (which krew would silently ignore) fails here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Manifest {
    api_version: String,
    kind: String,
    metadata: Metadata,
    spec: Spec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Metadata {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    version: String,
    homepage: String,
    short_description: String,
    description: String,
    caveats: String,
    platforms: Vec<Platform>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Platform {
    selector: Selector,
    uri: String,
    sha256: String,
    bin: String,
    files: Vec<FileOperation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileOperation {
    from: String,
    to: String,
}

impl Spec {
    /// The command the caveats give to put the completion helper beside the plugin.
    fn helper_copy_command(&self) -> &str {
        self.caveats
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("cp "))
            .expect("the caveats say how to install the completion helper")
    }
}

impl Platform {
    fn os_arch(&self) -> (&str, &str) {
        let label = |key: &str| {
            self.selector
                .match_labels
                .get(key)
                .map_or("", |v| v.as_str())
        };
        (label("os"), label("arch"))
    }

    fn matches(&self, os: &str, arch: &str) -> bool {
        self.selector
            .match_labels
            .iter()
            .all(|(key, value)| match key.as_str() {
                "os" => value == os,
                "arch" => value == arch,
                _ => false,
            })
    }
}

/// What `scripts/dist` produced for this test run.
struct Dist {
    out_dir: PathBuf,
    manifest_path: PathBuf,
    manifest: Manifest,
    /// What the script said on stderr: what it built and what it skipped, and why.
    log: String,
}

impl Dist {
    fn archive(&self, platform: &Platform) -> PathBuf {
        let name = platform.uri.rsplit('/').next().unwrap();
        self.out_dir.join(name)
    }

    fn platform(&self, os: &str, arch: &str) -> &Platform {
        self.manifest
            .spec
            .platforms
            .iter()
            .find(|p| p.matches(os, arch))
            .unwrap_or_else(|| panic!("the manifest has no platform for {os}/{arch}"))
    }

    /// This machine's platform, which scripts/dist always builds.
    fn here(&self) -> &Platform {
        self.platform("linux", "amd64")
    }
}

/// Runs scripts/dist once per test run into the test's own directories (the developer's dist/
/// and krew/calico-migrate.yaml stay as they are).
fn dist() -> &'static Dist {
    static DIST: OnceLock<Result<Dist, String>> = OnceLock::new();
    match DIST.get_or_init(build_dist) {
        Ok(dist) => dist,
        Err(error) => panic!("{error}"),
    }
}

fn build_dist() -> Result<Dist, String> {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("krew-dist");
    let _ = std::fs::remove_dir_all(&root);
    let out_dir = root.join("dist");
    let manifest_path = root.join(format!("{PLUGIN}.yaml"));
    let output = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dist"))
        .arg("--out-dir")
        .arg(&out_dir)
        .arg("--manifest")
        .arg(&manifest_path)
        .output()
        .map_err(|e| format!("cannot run scripts/dist: {e}"))?;
    let log = stderr(&output);
    if !output.status.success() {
        return Err(format!("scripts/dist failed:\n{log}"));
    }
    let text = std::fs::read_to_string(&manifest_path)
        .map_err(|e| format!("no manifest at {}: {e}", manifest_path.display()))?;
    let manifest = serde_saphyr::from_str(&text)
        .map_err(|e| format!("the manifest does not parse: {e}\n{text}"))?;
    Ok(Dist {
        out_dir,
        manifest_path,
        manifest,
        log,
    })
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An archive entry: its mode and its bytes. krew's unpacker handles regular files and
/// directories only, and refuses names with `..` or a leading slash.
struct Entry {
    mode: u32,
    bytes: Vec<u8>,
}

fn read_archive(path: &Path) -> BTreeMap<String, Entry> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = BTreeMap::new();
    for entry in archive.entries().expect("a tar.gz archive") {
        let mut entry = entry.expect("a readable entry");
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains("..") && !name.starts_with('/') && !name.starts_with('\\'),
            "krew refuses the entry {name:?}"
        );
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        assert!(kind.is_file(), "krew cannot unpack {name:?} ({kind:?})");
        let mode = entry.header().mode().unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.insert(name, Entry { mode, bytes });
    }
    entries
}

#[test]
fn the_manifest_follows_krews_rules() {
    let dist = dist();
    let manifest = &dist.manifest;
    let spec = &manifest.spec;

    assert_eq!(
        manifest.api_version,
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(manifest.kind, "Plugin");
    assert_eq!(manifest.metadata.name, PLUGIN);
    // krew-index names the file after the plugin.
    assert_eq!(
        dist.manifest_path.file_stem().unwrap().to_str(),
        Some(PLUGIN)
    );
    let safe_name = regex::Regex::new(r"^[\w-]+$").unwrap();
    assert!(safe_name.is_match(&manifest.metadata.name));

    // A semantic version with a leading v, the one the binary reports.
    let version = spec
        .version
        .strip_prefix('v')
        .unwrap_or_else(|| panic!("spec.version {:?} must start with v", spec.version));
    semver::Version::parse(version).expect("spec.version is a semantic version");
    assert_eq!(version, env!("CARGO_PKG_VERSION"));

    assert_eq!(spec.homepage, env!("CARGO_PKG_REPOSITORY"));
    assert!(spec.homepage.starts_with("https://"));
    assert!(!spec.short_description.is_empty());
    assert!(
        spec.short_description.len() < 50,
        "shortDescription has {} characters",
        spec.short_description.len()
    );
    assert!(!spec.short_description.contains(['\r', '\n']));
    assert!(!spec.description.trim().is_empty());
    // The caveats say what the plugin needs: network access to etcd, and RBAC.
    for needed in [
        "etcd endpoints",
        "--etcd-endpoints",
        "calico-config ConfigMap",
        "calico-etcd-secrets Secret",
        "customresourcedefinitions",
        "crd.projectcalico.org",
        "nodes",
        "namespaces",
    ] {
        assert_contains(&spec.caveats, needed);
    }
    for text in [&spec.description, &spec.caveats, &spec.homepage] {
        assert!(!text.contains("{{"), "a placeholder is left in {text}");
    }

    assert!(!spec.platforms.is_empty());
    let base = format!("{}/releases/download/{}/", spec.homepage, spec.version);
    let sha256_pattern = regex::Regex::new("^[a-f0-9]{64}$").unwrap();
    for platform in &spec.platforms {
        let (os, arch) = platform.os_arch();
        let keys: BTreeSet<&str> = platform
            .selector
            .match_labels
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, BTreeSet::from(["arch", "os"]), "{os}/{arch}");
        assert!(
            KREW_PLATFORMS.contains(&(os, arch)),
            "krew does not run on {os}/{arch}"
        );

        let archive_name = format!("{BIN}-{version}-{os}-{arch}.tar.gz");
        assert_eq!(platform.uri, format!("{base}{archive_name}"));
        let archive = dist.archive(platform);
        assert!(sha256_pattern.is_match(&platform.sha256), "{os}/{arch}");
        assert_eq!(platform.sha256, sha256_hex(&archive), "{os}/{arch}");
        let sum_file = std::fs::read_to_string(archive.with_extension("gz.sha256")).unwrap();
        assert_eq!(sum_file, format!("{}  {archive_name}\n", platform.sha256));

        let exe = if os == "windows" {
            format!("{BIN}.exe")
        } else {
            BIN.to_string()
        };
        assert_eq!(platform.bin, exe);
        let entries = read_archive(&archive);
        assert_eq!(
            entries.keys().map(String::as_str).collect::<BTreeSet<_>>(),
            BTreeSet::from([exe.as_str(), COMPLETION_HELPER, "LICENSE", "README.md"]),
            "{os}/{arch}"
        );
        for executable in [exe.as_str(), COMPLETION_HELPER] {
            assert_eq!(entries[executable].mode & 0o111, 0o111, "{executable}");
        }
        let license = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("LICENSE"));
        assert_eq!(entries["LICENSE"].bytes, license.unwrap());

        // Every file operation takes a file the archive has; together they keep the binary,
        // the completion helper and the LICENSE.
        assert!(!platform.files.is_empty());
        let mut installed = BTreeSet::new();
        for op in &platform.files {
            assert!(!op.from.is_empty() && !op.to.is_empty());
            assert_eq!(op.to, ".", "krew wants clean paths");
            assert!(
                entries.contains_key(&op.from),
                "{} not in the archive",
                op.from
            );
            installed.insert(op.from.as_str());
        }
        for needed in [exe.as_str(), COMPLETION_HELPER, "LICENSE"] {
            assert!(installed.contains(needed), "files do not install {needed}");
        }
    }

    // At most one platform per <os, arch>.
    for (os, arch) in KREW_PLATFORMS {
        let matching = spec
            .platforms
            .iter()
            .filter(|p| p.matches(os, arch))
            .count();
        assert!(matching <= 1, "{matching} platforms select {os}/{arch}");
    }
}

/// Every platform the script knows is either built or skipped with a reason; this machine's
/// is built.
#[test]
fn the_release_script_builds_this_platform_and_says_why_it_skips_others() {
    let dist = dist();
    dist.here();
    for (os, arch) in [
        ("linux", "amd64"),
        ("linux", "arm64"),
        ("darwin", "amd64"),
        ("darwin", "arm64"),
        ("windows", "amd64"),
    ] {
        let built = dist
            .manifest
            .spec
            .platforms
            .iter()
            .any(|p| p.matches(os, arch));
        let skipped = dist
            .log
            .lines()
            .skip_while(|line| !line.starts_with("Skipped"))
            .find(|line| line.trim_start().starts_with(&format!("{os}/{arch}: ")));
        match (built, skipped) {
            (true, None) => {}
            (false, Some(line)) => assert!(line.len() > format!("  {os}/{arch}: ").len()),
            _ => panic!(
                "{os}/{arch}: built {built}, skipped {skipped:?}\n{}",
                dist.log
            ),
        }
    }
    let archives: BTreeSet<String> = std::fs::read_dir(&dist.out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tar.gz"))
        .collect();
    assert_eq!(archives.len(), dist.manifest.spec.platforms.len());
}

/// What `kubectl krew install --manifest=M --archive=A` does, in a KREW_ROOT of its own: unpack
/// into a staging directory, apply `files` into store/<plugin>/<version>, and link the `bin`
/// into bin/ as kubectl-<plugin with _ for ->.
fn krew_install(krew_root: &Path, manifest: &Manifest, platform: &Platform, archive: &Path) {
    use std::os::unix::fs::PermissionsExt;

    assert_eq!(
        platform.sha256,
        sha256_hex(archive),
        "krew checks the sha256"
    );
    let staging = tempfile::tempdir().unwrap();
    for (name, entry) in read_archive(archive) {
        let path = staging.path().join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &entry.bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(entry.mode)).unwrap();
    }
    let install_dir = krew_root
        .join("store")
        .join(&manifest.metadata.name)
        .join(&manifest.spec.version);
    std::fs::create_dir_all(&install_dir).unwrap();
    for op in &platform.files {
        let from = staging.path().join(&op.from);
        let name = Path::new(&op.from).file_name().unwrap();
        std::fs::rename(&from, install_dir.join(&op.to).join(name)).unwrap();
    }
    let bin_dir = krew_root.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let link = format!("kubectl-{}", manifest.metadata.name.replace('-', "_"));
    std::os::unix::fs::symlink(install_dir.join(&platform.bin), bin_dir.join(link)).unwrap();
}

#[test]
fn installs_like_krew_and_runs_through_kubectl() {
    let kubectl = common::kubectl().expect("kubectl is installed (scripts/install-deps)");
    let dist = dist();
    let platform = dist.here();
    let krew_root = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    krew_install(
        krew_root.path(),
        &dist.manifest,
        platform,
        &dist.archive(platform),
    );

    // krew's users put its bin directory first on PATH.
    let path = common::path_with(&krew_root.path().join("bin"));
    let run = |program: &Path, args: &[&str]| {
        Command::new(program)
            .args(args)
            .env("PATH", &path)
            .env("HOME", home.path())
            .env("KUBECONFIG", home.path().join("no-kubeconfig"))
            .env("KREW_ROOT", krew_root.path())
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap()
    };

    // kubectl finds the plugin in krew's bin directory.
    let list = run(&kubectl, &["plugin", "list"]);
    let linked = krew_root.path().join("bin").join(BIN);
    assert!(
        stdout(&list).lines().any(|line| Path::new(line) == linked),
        "{}{}",
        stdout(&list),
        stderr(&list)
    );

    let version = run(&kubectl, &["calico-migrate", "--version"]);
    assert!(version.status.success(), "{}", stderr(&version));
    let line = stdout(&version);
    let reported = line
        .strip_prefix(&format!("{BIN} "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected --version output {line:?}"));
    assert_eq!(format!("v{reported}"), dist.manifest.spec.version);
    assert_contains(&line, "(commit ");
    assert_contains(&line, ", built ");

    let help = run(&kubectl, &["calico-migrate", "--help"]);
    assert!(help.status.success(), "{}", stderr(&help));
    assert_contains(
        &stdout(&help),
        "Usage: kubectl calico-migrate [OPTIONS] <COMMAND>",
    );
    assert_contains(&stdout(&help), "import");

    // The caveats' command puts the completion helper beside the plugin; kubectl then
    // completes the plugin's subcommands through it.
    let copy = dist.manifest.spec.helper_copy_command();
    let copied = run(Path::new("sh"), &["-c", copy]);
    assert!(copied.status.success(), "{copy}: {}", stderr(&copied));
    assert!(
        krew_root
            .path()
            .join("bin")
            .join(COMPLETION_HELPER)
            .is_file()
    );
    if common::kubectl_completes_plugins(&kubectl) {
        let completion = run(&kubectl, &["__complete", "calico-migrate", "im"]);
        assert_eq!(
            stdout(&completion),
            "import\tImport an export file into the Kubernetes datastore (resumable)\n:4\n"
        );
    } else {
        eprintln!("kubectl is older than 1.26, which added plugin completion: not checked");
    }
}

/// The Linux binary runs on any distribution with glibc 2.17 or later: no versioned glibc symbol
/// it imports is newer.
#[test]
fn the_linux_binary_needs_glibc_2_17_at_most() {
    let dist = dist();
    let entries = read_archive(&dist.archive(dist.here()));
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join(BIN);
    std::fs::write(&binary, &entries[BIN].bytes).unwrap();

    let output = Command::new("objdump")
        .arg("-T")
        .arg(&binary)
        .output()
        .expect("objdump is installed (binutils, scripts/install-deps)");
    assert!(output.status.success(), "{}", stderr(&output));
    let symbols = stdout(&output);
    let versions: BTreeSet<(u32, u32, u32)> = symbols
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|version| {
            let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
            Some((
                parts.next()??,
                parts.next()??,
                parts.next().flatten().unwrap_or(0),
            ))
        })
        .collect();
    assert!(!versions.is_empty(), "no glibc symbols: {symbols}");
    let newest = versions.last().unwrap();
    assert!(
        (newest.0, newest.1) <= GLIBC_FLOOR,
        "the binary needs glibc {}.{}.{}, newer than {}.{}",
        newest.0,
        newest.1,
        newest.2,
        GLIBC_FLOOR.0,
        GLIBC_FLOOR.1
    );
}

/// The first ```sh block after the README line that contains `marker`.
fn readme_snippet(readme: &str, marker: &str) -> String {
    let after = &readme[readme
        .find(marker)
        .unwrap_or_else(|| panic!("{marker:?} in README"))..];
    let start = after.find("```sh\n").expect("a sh block") + "```sh\n".len();
    let end = after[start..].find("```").unwrap();
    after[start..start + end].to_string()
}

/// The README's install commands name this release's archive and the manifest's own caveat, and
/// its install-without-krew snippet works as written.
#[test]
fn the_readme_install_commands_match_the_release() {
    let dist = dist();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let archive = format!("{BIN}-{version}-linux-amd64.tar.gz");
    let local = readme_snippet(&readme, "From this checkout");
    assert_contains(
        &local,
        &format!("kubectl krew install --manifest=krew/{PLUGIN}.yaml --archive=dist/{archive}"),
    );
    let copy = dist.manifest.spec.helper_copy_command();
    assert_eq!(readme_snippet(&readme, "### Shell completion").trim(), copy);

    // Run it where dist/ is, with a HOME of its own.
    let home = tempfile::tempdir().unwrap();
    let snippet = readme_snippet(&readme, "Without krew");
    assert_contains(&snippet, &archive);
    let output = Command::new("sh")
        .args(["-e", "-c", &snippet])
        .current_dir(dist.out_dir.parent().unwrap())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{snippet}: {}", stderr(&output));
    let bin = home.path().join(".local/bin");
    let version_output = Command::new(bin.join(BIN))
        .arg("--version")
        .output()
        .unwrap();
    assert!(stdout(&version_output).starts_with(&format!("{BIN} {version} ")));
    assert!(bin.join(COMPLETION_HELPER).is_file());
}
