//! Valid export files, mutated at random (bytes flipped, the file cut short, lines doubled or
//! dropped, separators inserted, garbage spliced in), read by the export reader and converted as
//! import converts them, in process: nothing panics, and every failure says where it is.

use std::path::Path;

use calico_migrate::convert::kdd::TargetRelease;
use calico_migrate::convert::version::CalicoVersion;
use calico_migrate::format::export_reader::{self, Event, ReadError};
use calico_migrate::source::file;
use proptest::prelude::*;

const NAME: &str = "mutated.export";

/// The valid files mutated: the corpus's small one and two in calicoctl's formats.
fn seeds() -> Vec<Vec<u8>> {
    [
        "tests/fixtures/bad/valid.txt",
        "tests/fixtures/handmade/calicoctl-v3.28-export.txt",
        "tests/fixtures/handmade/calicoctl-v3.32-export.txt",
    ]
    .iter()
    .map(|file| std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap())
    .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    /// XOR the byte at this fraction of the file with a non-zero mask.
    FlipByte(f64, u8),
    /// Keep only this fraction of the file.
    Truncate(f64),
    DuplicateLine(f64),
    RemoveLine(f64),
    /// Insert a line before the line at this fraction.
    InsertLine(f64, &'static str),
    /// Insert bytes at this fraction of the file.
    InsertBytes(f64, Vec<u8>),
}

const LINES: &[&str] = &[
    "===",
    "---",
    "...",
    "- ",
    "-",
    "items:",
    "  - a",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    "&a",
    "*a",
    "? ",
    ": ",
    "\t",
    "#",
    "kind: IPPoolList",
    "items: null",
    "- kind: IPPool",
];

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = 0.0..1.0f64;
    prop_oneof![
        (at.clone(), 1..=255u8).prop_map(|(at, mask)| Mutation::FlipByte(at, mask)),
        at.clone().prop_map(Mutation::Truncate),
        at.clone().prop_map(Mutation::DuplicateLine),
        at.clone().prop_map(Mutation::RemoveLine),
        (at.clone(), proptest::sample::select(LINES))
            .prop_map(|(at, l)| Mutation::InsertLine(at, l)),
        (at, proptest::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Mutation::InsertBytes(at, bytes)),
    ]
}

fn index(at: f64, len: usize) -> usize {
    ((at * len as f64) as usize).min(len)
}

fn apply(file: &mut Vec<u8>, mutation: &Mutation) {
    let mut lines: Vec<Vec<u8>> = file
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    match mutation {
        Mutation::FlipByte(at, mask) => {
            if !file.is_empty() {
                let i = index(*at, file.len() - 1);
                file[i] ^= mask;
            }
            return;
        }
        Mutation::Truncate(at) => {
            file.truncate(index(*at, file.len()));
            return;
        }
        Mutation::InsertBytes(at, bytes) => {
            let i = index(*at, file.len());
            file.splice(i..i, bytes.iter().copied());
            return;
        }
        Mutation::DuplicateLine(at) if !lines.is_empty() => {
            let i = index(*at, lines.len() - 1);
            lines.insert(i, lines[i].clone());
        }
        Mutation::RemoveLine(at) if !lines.is_empty() => {
            lines.remove(index(*at, lines.len() - 1));
        }
        Mutation::InsertLine(at, line) => {
            lines.insert(index(*at, lines.len()), format!("{line}\n").into_bytes());
        }
        _ => {}
    }
    *file = lines.concat();
}

/// Reads the file as import does, converting every object and IPAM entry, and checks what
/// comes out: objects have a kind and a name, conversion errors name their object, and a
/// format error names the file and, unless it is about the file as a whole, its line.
fn read_and_convert(file: &[u8], target: &TargetRelease) -> Result<(), TestCaseError> {
    let mut converted = 0usize;
    let result = export_reader::read(file, NAME, |event| {
        if let Event::Object { object, .. } = &event {
            assert!(object["kind"].is_string() && object["metadata"]["name"].is_string());
        }
        if let Some(item) = file::convert(event, target) {
            converted += 1;
            if let Err(error) = &item.desired {
                assert!(
                    !error.object.is_empty() && !error.reason.is_empty(),
                    "{error:?}"
                );
            }
        }
        Ok::<(), std::convert::Infallible>(())
    });
    match result {
        Ok(summary) => {
            prop_assert!(summary.lines > 0);
            prop_assert_eq!(
                converted as u64,
                summary.objects + summary.ipam_total(),
                "every object and entry was handed on"
            );
        }
        Err(ReadError::Format(error)) => {
            prop_assert_eq!(&error.file, NAME);
            prop_assert!(!error.message.is_empty());
            let whole_file = error.message.starts_with("found ");
            prop_assert!(error.line.is_some() || whole_file, "no line: {}", error);
            if let Some(line) = error.line {
                let lines = file.split(|b| *b == b'\n').count();
                prop_assert!(
                    line >= 1 && line <= lines,
                    "line {} of {}: {}",
                    line,
                    lines,
                    error
                );
            }
        }
        Err(other) => prop_assert!(false, "{other}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic_and_errors_say_where(
        seed in 0..3usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let mut file = seeds().swap_remove(seed);
        for mutation in &mutations {
            apply(&mut file, mutation);
        }
        let target = TargetRelease::new(CalicoVersion::parse("v3.28.0"), "2024-05-01T00:00:00Z".into());
        read_and_convert(&file, &target)?;
    }
}

#[test]
fn the_seeds_read_and_convert_whole() {
    let target = TargetRelease::new(
        CalicoVersion::parse("v3.30.0"),
        "2024-05-01T00:00:00Z".into(),
    );
    for seed in seeds() {
        let summary = export_reader::read(&seed[..], NAME, |event| {
            let item = file::convert(event, &target);
            assert!(item.is_none_or(|item| item.desired.is_ok()));
            Ok::<(), std::convert::Infallible>(())
        })
        .unwrap();
        assert!(summary.objects > 0);
    }
}
