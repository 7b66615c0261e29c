//! Reads calicoctl's migration file (docs/design.md §12) as a stream of events, for import and
//! verify, with memory that does not grow with the file:
//!
//! ```text
//! <YAML list documents, each ending with a `---` line>
//! ===
//! <ClusterInformation as indented JSON>
//! ===
//! <IPAM JSON>
//! ```
//!
//! # Parts
//!
//! The parts are split only at lines that are exactly `===` (a trailing CR allowed); calicoctl
//! splits at the bytes `===\n` anywhere, so it breaks on a YAML line that ends with `===`, which
//! is read correctly here. Every calicoctl file has such lines only as separators.
//!
//! # Part 1: YAML list documents
//!
//! Documents are separated by `---` lines; a missing final `---`, a leading `---`, empty
//! documents and comments are accepted, and so are `...` end markers. Each document is a list
//! `{apiVersion, items, kind: <Kind>List, metadata: {resourceVersion}}` in any key order, with
//! `items` a sequence, `null` or absent.
//!
//! A document in go-yaml's block layout is read one item at a time: once its top level is a
//! block mapping (its first line starts with a letter) and it has an `items:` line at column 0
//! with nothing after the colon but a comment, followed by an item line starting with `- ` (or
//! a lone `-`) at column 0, every item runs from its `-` line to the line before the next line
//! at column 0 that is not blank and not a comment. Blank lines, comments and indented lines
//! all belong to the item, so block literals, folded plain scalars and quoted scalars spread
//! over several lines, which go-yaml always indents, stay inside it. Each item is parsed alone
//! with [`goyaml::from_yaml`] as soon as it is complete and handed to the callback; the other
//! top-level keys are parsed at the end of the document. Every other layout (flow style,
//! `items` indented under its key, `items: []`, a quoted `"items":` key, a document that starts
//! with `{`, content on the `---` line) is read by parsing the whole document at its end, which
//! gives the same values. The streaming path assumes what go-yaml's writer guarantees: an item
//! does not refer to anchors defined outside it, and no line of an item after its first starts
//! at column 0 unless it is blank or a comment; a hand-edited file that breaks this gets a YAML
//! error with its line, never different values.
//!
//! # Parts 2 and 3
//!
//! The ClusterInformation is read whole (it is one small object). The IPAM JSON is read with a
//! serde visitor that hands each entry to the callback as soon as it is parsed, so 100,000
//! handles never form one value. Its fields are all optional (`{}` is valid, and so is `null`
//! for a section), unknown fields are errors, and each entry's `Value` is kept exactly as
//! written (other calicoctl versions write other fields).
//!
//! # Errors and the order of events
//!
//! Events come in file order while the file is read, so an error can follow events from the
//! same file. [`read_file`] first counts the parts, so a file with the wrong number of parts
//! fails before any event; callers that must not act on a file with any error read it twice,
//! once with [`check_file`] and then for real.
//!
//! Input may use CR LF line ends and start with a UTF-8 byte order mark; anything that is not
//! UTF-8 is an error naming its line.
//!
//! # Limits
//!
//! Memory stays bounded whatever the file holds. No line of the YAML or the ClusterInformation
//! may be longer than [`MAX_LINE`] (no Calico object has such a line), and no text parsed at
//! once (a streamed item, a document read whole, the ClusterInformation) longer than
//! [`MAX_PARSED`]; the IPAM JSON, which may be written on one line, is read in pieces of
//! [`MAX_LINE`], and none of its entries may be longer than [`MAX_LINE`]. The YAML parser bounds
//! nesting and alias expansion (see [`goyaml`]).

use std::convert::Infallible;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::convert::gotypes::json_type;
use crate::convert::ipam::{IpamEntry, IpamKey, parse_ipam_key};
use crate::kinds::IpamKind;
use go_compat::yaml as goyaml;

/// What to do about a broken file, added to most format errors.
const RECREATE: &str = "recreate it with kubectl calico-migrate export";

/// The longest line of the YAML and ClusterInformation parts, and the pieces the IPAM JSON is
/// read in.
pub const MAX_LINE: usize = 8 << 20;
/// The most text parsed at once: one streamed item, one document read whole, or the
/// ClusterInformation.
pub const MAX_PARSED: usize = 8 << 20;

/// One thing read from the file, in file order.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// One object of a YAML list document (each has its own apiVersion, kind and metadata).
    /// `document` counts the non-empty YAML documents from 1; `line` is the line of the item's
    /// `-` (streamed documents) or the first line of the document (documents read whole).
    Object {
        document: usize,
        line: usize,
        object: Value,
    },
    /// The end of a list document: its `kind` (such as `IPPoolList`), its
    /// `metadata.resourceVersion` if any, and how many items it had. `line` is the first line
    /// of the document's content.
    ListEnd {
        document: usize,
        line: usize,
        list_kind: String,
        resource_version: Option<String>,
        items: u64,
    },
    /// The second part: `ClusterInformation/default` as calicoctl fetched it.
    ClusterInformation(Value),
    /// One entry of the IPAM JSON, in file order; `renamed` is false.
    Ipam(IpamEntry),
}

/// What a list document held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListSummary {
    pub document: usize,
    pub line: usize,
    pub list_kind: String,
    pub resource_version: Option<String>,
    pub items: u64,
    /// Whether the items were read one at a time (go-yaml's block layout) rather than with the
    /// whole document.
    pub streamed: bool,
}

/// Counts of what a whole file held.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The list documents, in file order.
    pub lists: Vec<ListSummary>,
    /// Objects in all lists.
    pub objects: u64,
    /// IPAM entries per section, in the order of [`IpamKind::ALL`].
    pub ipam: [u64; 4],
    /// Lines in the file.
    pub lines: usize,
}

impl Summary {
    pub fn ipam_count(&self, kind: IpamKind) -> u64 {
        self.ipam[ipam_index(kind)]
    }

    pub fn ipam_total(&self) -> u64 {
        self.ipam.iter().sum()
    }
}

fn ipam_index(kind: IpamKind) -> usize {
    IpamKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

/// A file held whole in memory (for small files and tests).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportFile {
    /// Each list document: its kind (`IPPoolList`) and items.
    pub lists: Vec<(String, Vec<Value>)>,
    pub cluster_information: Value,
    pub ipam: Vec<IpamEntry>,
}

/// Where and why the file is not a valid export file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    pub file: String,
    /// 1-based line of the problem, when it has one.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for FormatError {}

/// Why reading stopped: the file could not be read, it is not a valid export file, or the
/// callback returned an error (passed through unchanged).
#[derive(Debug)]
pub enum ReadError<E> {
    Io { file: String, error: io::Error },
    Format(FormatError),
    Callback(E),
}

impl<E: fmt::Display> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io { file, error } => write!(f, "cannot read {file}: {error}"),
            ReadError::Format(error) => error.fmt(f),
            ReadError::Callback(error) => error.fmt(f),
        }
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for ReadError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl ReadError<Infallible> {
    /// The same error as a `ReadError` with any callback error type.
    pub fn widen<E>(self) -> ReadError<E> {
        match self {
            ReadError::Io { file, error } => ReadError::Io { file, error },
            ReadError::Format(error) => ReadError::Format(error),
            ReadError::Callback(never) => match never {},
        }
    }
}

impl<E> ReadError<E> {
    /// The format error, if that is what this is.
    pub fn as_format(&self) -> Option<&FormatError> {
        match self {
            ReadError::Format(error) => Some(error),
            _ => None,
        }
    }
}

/// Reads the file at `path`, calling `on_event` for everything in it, in file order. The parts
/// are counted first, so a file with the wrong number of parts fails before any event.
pub fn read_file<E>(
    path: &Path,
    on_event: impl FnMut(Event) -> Result<(), E>,
) -> Result<Summary, ReadError<E>> {
    let name = path.display().to_string();
    let open = || {
        let file = File::open(path).map_err(|error| ReadError::Io {
            file: name.clone(),
            error,
        })?;
        // The file is read twice (its parts are counted first), and a device such as
        // /dev/zero never ends.
        match file.metadata() {
            Ok(metadata) if !metadata.is_file() => Err(ReadError::Format(FormatError {
                file: name.clone(),
                line: None,
                column: None,
                message: "is not a regular file (a directory, a pipe or a device): write the \
                          export to a file and give that file"
                    .to_string(),
            })),
            _ => Ok(file),
        }
    };
    let scan = scan(BufReader::with_capacity(1 << 16, open()?)).map_err(|error| ReadError::Io {
        file: name.clone(),
        error,
    })?;
    if let Some((line, message)) = scan.not_text {
        return Err(ReadError::Format(FormatError {
            file: name,
            line: Some(line),
            column: None,
            message,
        }));
    }
    if scan.lines == 0 {
        return Err(ReadError::Format(FormatError {
            file: name,
            line: None,
            column: None,
            message: format!("the file is empty: {RECREATE}"),
        }));
    }
    if scan.parts != 3 {
        return Err(ReadError::Format(parts_error(
            &name,
            scan.parts,
            scan.near_separator,
        )));
    }
    read(BufReader::with_capacity(1 << 16, open()?), &name, on_event)
}

/// Reads the whole file and checks it, without acting on anything in it.
pub fn check_file(path: &Path) -> Result<Summary, ReadError<Infallible>> {
    read_file(path, |_| Ok(()))
}

/// Reads an export file from `input` (`name` is used in messages), calling `on_event` for
/// everything in it, in file order.
pub fn read<R: BufRead, E>(
    input: R,
    name: &str,
    mut on_event: impl FnMut(Event) -> Result<(), E>,
) -> Result<Summary, ReadError<E>> {
    read_with(input, name, &mut on_event, true)
}

/// Reads the whole file into memory.
pub fn read_to_end(path: &Path) -> Result<ExportFile, ReadError<Infallible>> {
    let mut collector = Collector::default();
    read_file(path, |event| {
        collector.add(event);
        Ok::<(), Infallible>(())
    })?;
    Ok(collector.finish())
}

/// Reads a whole file from `input` into memory.
pub fn read_to_end_from<R: BufRead>(
    input: R,
    name: &str,
) -> Result<ExportFile, ReadError<Infallible>> {
    let mut collector = Collector::default();
    read(input, name, |event| {
        collector.add(event);
        Ok::<(), Infallible>(())
    })?;
    Ok(collector.finish())
}

#[derive(Default)]
struct Collector {
    lists: Vec<(String, Vec<Value>)>,
    items: Vec<Value>,
    cluster_information: Value,
    ipam: Vec<IpamEntry>,
}

impl Collector {
    fn add(&mut self, event: Event) {
        match event {
            Event::Object { object, .. } => self.items.push(object),
            Event::ListEnd { list_kind, .. } => self
                .lists
                .push((list_kind, std::mem::take(&mut self.items))),
            Event::ClusterInformation(value) => self.cluster_information = value,
            Event::Ipam(entry) => self.ipam.push(entry),
        }
    }

    fn finish(self) -> ExportFile {
        ExportFile {
            lists: self.lists,
            cluster_information: self.cluster_information,
            ipam: self.ipam,
        }
    }
}

/// The file has `parts` parts; `near_separator` is the first line that would be a separator but
/// for blanks around it.
fn parts_error(file: &str, parts: usize, near_separator: Option<usize>) -> FormatError {
    let plural = if parts == 1 { "" } else { "s" };
    let near = match near_separator {
        Some(line) => format!(
            " (line {line} has blanks around its \"===\": a separator is a line that is exactly \"===\")"
        ),
        None => String::new(),
    };
    FormatError {
        file: file.to_string(),
        line: near_separator,
        column: None,
        message: format!(
            "found {parts} part{plural} where an export file has 3 (the YAML resources, the \
             ClusterInformation JSON and the IPAM JSON, separated by lines \"===\"){near}; the \
             file is not an export file, or is incomplete or was changed: {RECREATE}"
        ),
    }
}

/// A line that would be a part separator but for blanks around it.
fn is_near_separator(line: &[u8]) -> bool {
    line != b"===" && line.trim_ascii() == b"==="
}

/// What a first pass over a file finds, before anything in it is acted on.
struct Scan {
    /// One more than its `===` lines.
    parts: usize,
    lines: usize,
    /// The first line that is not UTF-8 text, and why.
    not_text: Option<(usize, String)>,
    near_separator: Option<usize>,
}

fn scan<R: BufRead>(input: R) -> io::Result<Scan> {
    let mut lines = LineReader::new(input);
    let mut scan = Scan {
        parts: 1,
        lines: 0,
        not_text: None,
        near_separator: None,
    };
    while lines.next_raw()? {
        if lines.is_separator() {
            scan.parts += 1;
        } else if scan.not_text.is_none()
            && let Err(message) = lines.piece_text()
        {
            scan.not_text = Some((lines.line, message));
        } else if scan.near_separator.is_none()
            && lines.is_whole()
            && is_near_separator(lines.content())
        {
            scan.near_separator = Some(lines.line);
        }
    }
    scan.lines = lines.line;
    Ok(scan)
}

// ---------------------------------------------------------------------------
// Lines
// ---------------------------------------------------------------------------

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The input, one line at a time, into a reused buffer. A line longer than [`MAX_LINE`] comes
/// in pieces of at most that size (each ending at a character boundary), so that memory stays
/// bounded; most callers refuse such lines.
struct LineReader<R> {
    input: R,
    /// The piece last read: the whole line with its line break, unless the line is longer.
    raw: Vec<u8>,
    /// The 1-based number of its line (0 before the first line).
    line: usize,
    /// Whether the line goes on after this piece.
    partial: bool,
    /// Bytes of the line before this piece.
    offset: usize,
}

impl<R: BufRead> LineReader<R> {
    fn new(input: R) -> LineReader<R> {
        LineReader {
            input,
            raw: Vec::new(),
            line: 0,
            partial: false,
            offset: 0,
        }
    }

    /// Reads the next line, or the next piece of a long line; false at the end of the input.
    fn next_raw(&mut self) -> io::Result<bool> {
        self.offset = if self.partial {
            self.offset + self.raw.len()
        } else {
            0
        };
        self.raw.clear();
        let limit = MAX_LINE as u64;
        let read = (&mut self.input)
            .take(limit)
            .read_until(b'\n', &mut self.raw)?;
        if read == 0 {
            self.partial = false;
            return Ok(false);
        }
        self.partial = !self.raw.ends_with(b"\n") && read as u64 == limit;
        // A piece ends at a character boundary, so that each piece is text on its own.
        while self.partial && ends_inside_character(&self.raw) {
            let mut byte = [0];
            if self.input.read(&mut byte)? == 0 {
                break;
            }
            self.raw.push(byte[0]);
            self.partial = byte[0] != b'\n';
        }
        if self.offset == 0 {
            self.line += 1;
            if self.line == 1 && self.raw.starts_with(BOM) {
                self.raw.drain(..BOM.len());
            }
        }
        Ok(true)
    }

    /// Whether the piece last read is a whole line.
    fn is_whole(&self) -> bool {
        !self.partial && self.offset == 0
    }

    /// Whether the line last read is a part separator.
    fn is_separator(&self) -> bool {
        self.is_whole() && self.content() == b"==="
    }

    /// The piece last read without its line break (LF or CR LF).
    fn content(&self) -> &[u8] {
        if self.partial {
            return &self.raw;
        }
        let line = self.raw.strip_suffix(b"\n").unwrap_or(&self.raw);
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// The line last read as text, or why it cannot be: it is not UTF-8, or it is longer than
    /// [`MAX_LINE`].
    fn text(&self) -> Result<&str, String> {
        if !self.is_whole() {
            return Err(format!(
                "the line is longer than {} MiB; no line of an export file's YAML or \
                 ClusterInformation is that long, so the file is damaged or is not an export file: \
                 {RECREATE}",
                MAX_LINE >> 20
            ));
        }
        self.piece_text()
    }

    /// The piece last read as text, or why it is not UTF-8.
    fn piece_text(&self) -> Result<&str, String> {
        std::str::from_utf8(self.content())
            .map_err(|error| not_utf8(self.line, self.offset, self.content(), error))
    }
}

/// Whether `bytes` end in the middle of a UTF-8 encoded character.
fn ends_inside_character(bytes: &[u8]) -> bool {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let length = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return length > back;
    }
    false
}

/// Why a line is not UTF-8; `offset` is where the piece `content` starts in its line.
fn not_utf8(line: usize, offset: usize, content: &[u8], error: std::str::Utf8Error) -> String {
    let at = error.valid_up_to();
    if line == 1 && offset == 0 {
        if content.starts_with(b"\xFF\xFE") || content.starts_with(b"\xFE\xFF") {
            return "the file is UTF-16 text (as PowerShell's `>` writes it), not UTF-8: convert it to UTF-8 \
                    (for example with `iconv -f UTF-16 -t UTF-8`) or write the export to a file directly"
                .to_string();
        }
        if content.starts_with(b"\x1F\x8B") {
            return "the file is gzip-compressed: decompress it first (for example with `gunzip`)"
                .to_string();
        }
    }
    let byte = content.get(at).copied().unwrap_or(0);
    format!(
        "the line is not UTF-8 text (byte 0x{byte:02X} at byte {} of the line); an export file is UTF-8: \
         {RECREATE}",
        offset + at + 1
    )
}

fn is_blank_or_comment(line: &str) -> bool {
    let rest = line.trim_start_matches([' ', '\t']);
    rest.is_empty() || rest.starts_with('#')
}

fn is_indented(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

/// `---` or `...` at column 0, alone or followed by a blank.
fn is_marker(line: &str) -> bool {
    (line.starts_with("---") || line.starts_with("..."))
        && line[3..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
}

/// A block sequence entry at column 0: `- …` or a lone `-`.
fn is_item_start(line: &str) -> bool {
    line.starts_with('-')
        && line[1..]
            .chars()
            .next()
            .is_none_or(|c| c == ' ' || c == '\t')
}

/// `items:` at column 0 with no value (a comment allowed).
fn is_items_key(line: &str) -> bool {
    match line.strip_prefix("items:") {
        Some(rest) => {
            rest.is_empty() || (rest.starts_with([' ', '\t']) && is_blank_or_comment(rest))
        }
        None => false,
    }
}

/// What a value is, in the file's (YAML) words.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Object(_) => "a mapping",
        other => json_type(other),
    }
}

// ---------------------------------------------------------------------------
// The reader
// ---------------------------------------------------------------------------

/// Where events go, and the counts so far.
struct Sink<'f, E> {
    name: String,
    on_event: &'f mut dyn FnMut(Event) -> Result<(), E>,
    summary: Summary,
    documents: usize,
}

impl<E> Sink<'_, E> {
    fn emit(&mut self, event: Event) -> Result<(), ReadError<E>> {
        (self.on_event)(event).map_err(ReadError::Callback)
    }

    fn error(
        &self,
        line: Option<usize>,
        column: Option<usize>,
        message: impl Into<String>,
    ) -> ReadError<E> {
        ReadError::Format(FormatError {
            file: self.name.clone(),
            line,
            column,
            message: message.into(),
        })
    }
}

fn read_with<R: BufRead, E>(
    input: R,
    name: &str,
    on_event: &mut dyn FnMut(Event) -> Result<(), E>,
    stream_items: bool,
) -> Result<Summary, ReadError<E>> {
    let mut lines = LineReader::new(input);
    let mut sink = Sink {
        name: name.to_string(),
        on_event,
        summary: Summary::default(),
        documents: 0,
    };
    let io_error = |error| ReadError::Io {
        file: name.to_string(),
        error,
    };

    // Part 1: the YAML list documents.
    let mut near_separator = None;
    let mut document = Document::new(1, stream_items);
    loop {
        if !lines.next_raw().map_err(io_error)? {
            document.finish(&mut sink)?;
            return Err(ReadError::Format(parts_error(name, 1, near_separator)));
        }
        let n = lines.line;
        let line = lines
            .text()
            .map_err(|message| sink.error(Some(n), None, message))?;
        if near_separator.is_none() && is_near_separator(line.as_bytes()) {
            near_separator = Some(n);
        }
        if line == "===" {
            document.finish(&mut sink)?;
            break;
        }
        if is_marker(line) {
            let old = std::mem::replace(&mut document, Document::new(n + 1, stream_items));
            old.finish(&mut sink)?;
            if !is_blank_or_comment(&line[3..]) {
                // Content after the marker (`--- {…}`, `--- !!map`): the document starts here
                // and is read whole.
                document = Document::new(n, false);
                document.push(line, n, &mut sink)?;
            }
            continue;
        }
        document.push(line, n, &mut sink)?;
    }

    // Part 2: the ClusterInformation.
    let first = lines.line + 1;
    let mut text = String::new();
    loop {
        if !lines.next_raw().map_err(io_error)? {
            return Err(ReadError::Format(parts_error(name, 2, near_separator)));
        }
        let n = lines.line;
        let line = lines
            .text()
            .map_err(|message| sink.error(Some(n), None, message))?;
        if near_separator.is_none() && is_near_separator(line.as_bytes()) {
            near_separator = Some(n);
        }
        if line == "===" {
            break;
        }
        text.push_str(line);
        text.push('\n');
        if text.len() > MAX_PARSED {
            return Err(sink.error(
                Some(first),
                None,
                format!(
                    "the ClusterInformation part is longer than {} MiB; it is one small object: {RECREATE}",
                    MAX_PARSED >> 20
                ),
            ));
        }
    }
    let cluster_information = parse_cluster_information(&text, first, &sink)?;
    drop(text);
    sink.emit(Event::ClusterInformation(cluster_information))?;

    // Part 3: the IPAM JSON.
    read_ipam(&mut lines, &mut sink)?;
    sink.summary.lines = lines.line;
    Ok(sink.summary)
}

fn parse_cluster_information<E>(
    text: &str,
    first: usize,
    sink: &Sink<'_, E>,
) -> Result<Value, ReadError<E>> {
    if text.trim().is_empty() {
        return Err(sink.error(
            Some(first),
            None,
            "the second part, the ClusterInformation JSON, is empty; calicoctl leaves it empty when it \
             cannot read ClusterInformation \"default\" (for example `calicoctl datastore migrate export \
             --allow-version-mismatch` against a cluster of another version), and such a file cannot be \
             imported: recreate it with kubectl calico-migrate export",
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|error| {
        sink.error(
            Some(first + error.line().saturating_sub(1)),
            (error.column() > 0).then_some(error.column()),
            format!(
                "invalid JSON in the ClusterInformation part: {}",
                json_message(&error)
            ),
        )
    })?;
    if !value.is_object() {
        return Err(sink.error(
            Some(first),
            None,
            format!(
                "the ClusterInformation part is {}, not a JSON object: {RECREATE}",
                describe(&value)
            ),
        ));
    }
    match value.get("kind") {
        None => {}
        Some(Value::String(kind)) if kind == "ClusterInformation" => {}
        Some(other) => {
            return Err(sink.error(
                Some(first),
                None,
                format!("the second part holds kind {other}, not a ClusterInformation: {RECREATE}"),
            ));
        }
    }
    Ok(value)
}

/// The text of a serde_json error without its ` at line L column C`, which is told apart.
fn json_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    text.strip_suffix(&suffix)
        .map(str::to_string)
        .unwrap_or(text)
}

/// The ClusterInformation of part 2, found by scanning for the separators without parsing the
/// YAML of part 1 (import needs the source's Calico version before it converts anything); None
/// when the file has no valid one (reading the file then says why).
pub fn peek_cluster_information(path: &Path) -> Option<Value> {
    let file = File::open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut lines = LineReader::new(BufReader::with_capacity(1 << 16, file));
    let mut part = 1;
    let mut text = String::new();
    while lines.next_raw().ok()? {
        if lines.is_separator() {
            part += 1;
            if part == 3 {
                return serde_json::from_str(&text).ok();
            }
        } else if part == 2 {
            text.push_str(lines.text().ok()?);
            text.push('\n');
            if text.len() > MAX_PARSED {
                return None;
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Part 1: one YAML document
// ---------------------------------------------------------------------------

/// The lines of the items section, left out of a streamed document's text.
struct Gap {
    /// Lines of the document's text before the gap.
    after_text_lines: usize,
    /// File line of the `items:` line.
    first_line: usize,
    /// Number of lines left out.
    lines: usize,
}

enum DocState {
    /// Lines go to the document's text.
    Text,
    /// After an `items:` line with no value: waiting for the first item.
    ItemsKey {
        line: String,
        pending: Vec<String>,
        pending_bytes: usize,
    },
    /// Inside the items: the current item's lines.
    Items { chunk: String, chunk_line: usize },
}

struct Document {
    /// File line of the document's first line.
    first_line: usize,
    /// Number of the document (from 1) once it has content, else 0.
    number: usize,
    /// First line with content.
    content_line: usize,
    /// The document without its streamed items.
    text: String,
    text_lines: usize,
    /// Whether the items may still be streamed.
    stream: bool,
    gap: Option<Gap>,
    state: DocState,
    streamed: u64,
}

impl Document {
    fn new(first_line: usize, stream: bool) -> Document {
        Document {
            first_line,
            number: 0,
            content_line: first_line,
            text: String::new(),
            text_lines: 0,
            stream,
            gap: None,
            state: DocState::Text,
            streamed: 0,
        }
    }

    fn push_text(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
        self.text_lines += 1;
    }

    /// The file line of a line of `text`.
    fn file_line(&self, text_line: usize) -> usize {
        let skipped = match &self.gap {
            Some(gap) if text_line > gap.after_text_lines => gap.lines,
            _ => 0,
        };
        self.first_line + text_line.saturating_sub(1) + skipped
    }

    fn push<E>(
        &mut self,
        line: &str,
        n: usize,
        sink: &mut Sink<'_, E>,
    ) -> Result<(), ReadError<E>> {
        let blank = is_blank_or_comment(line);
        if !blank && self.number == 0 {
            sink.documents += 1;
            self.number = sink.documents;
            self.content_line = n;
            // go-yaml's block mapping starts with a plain key.
            if !line.starts_with(|c: char| c.is_ascii_alphabetic()) {
                self.stream = false;
            }
        }
        match &mut self.state {
            DocState::Text => {
                if !blank && self.stream && is_items_key(line) {
                    self.state = DocState::ItemsKey {
                        line: line.to_string(),
                        pending: Vec::new(),
                        pending_bytes: 0,
                    };
                } else {
                    self.push_text(line);
                }
            }
            DocState::ItemsKey {
                line: key_line,
                pending,
                pending_bytes,
            } => {
                if blank {
                    *pending_bytes += line.len() + 1;
                    pending.push(line.to_string());
                } else if is_item_start(line) {
                    self.gap = Some(Gap {
                        after_text_lines: self.text_lines,
                        first_line: n - 1 - pending.len(),
                        lines: 0,
                    });
                    self.state = DocState::Items {
                        chunk: format!("{line}\n"),
                        chunk_line: n,
                    };
                } else {
                    // `items:` with an indented value, or no value (null): the document is read
                    // whole.
                    let key_line = std::mem::take(key_line);
                    let pending = std::mem::take(pending);
                    self.stream = false;
                    self.state = DocState::Text;
                    self.push_text(&key_line);
                    for p in &pending {
                        self.push_text(p);
                    }
                    self.push_text(line);
                }
            }
            DocState::Items { chunk, .. } => {
                if is_item_start(line) {
                    self.flush_item(sink)?;
                    self.state = DocState::Items {
                        chunk: format!("{line}\n"),
                        chunk_line: n,
                    };
                } else if blank || is_indented(line) {
                    chunk.push_str(line);
                    chunk.push('\n');
                } else {
                    self.flush_item(sink)?;
                    if let Some(gap) = &mut self.gap {
                        gap.lines = n - gap.first_line;
                    }
                    self.stream = false;
                    self.state = DocState::Text;
                    self.push_text(line);
                }
            }
        }
        self.check_size(n, sink)
    }

    /// Refuses to hold more than [`MAX_PARSED`] bytes for one parse.
    fn check_size<E>(&self, n: usize, sink: &Sink<'_, E>) -> Result<(), ReadError<E>> {
        let held = self.text.len()
            + match &self.state {
                DocState::Text => 0,
                DocState::ItemsKey { pending_bytes, .. } => *pending_bytes,
                DocState::Items { chunk, .. } => chunk.len(),
            };
        if held <= MAX_PARSED {
            return Ok(());
        }
        let limit = MAX_PARSED >> 20;
        let message = match &self.state {
            DocState::Items { chunk_line, .. } => format!(
                "the item of list document {} that starts at line {chunk_line} is longer than \
                 {limit} MiB; no Calico object is that large, so the file is damaged: {RECREATE}",
                self.number
            ),
            _ => format!(
                "list document {} is longer than {limit} MiB without being in the layout export \
                 writes (each item starting with a \"- \" line at column 0 under \"items:\"), which \
                 is read one item at a time; such a document would be read whole: {RECREATE}",
                self.number
            ),
        };
        Err(sink.error(Some(n), None, message))
    }

    /// Parses the item being collected and hands it on.
    fn flush_item<E>(&mut self, sink: &mut Sink<'_, E>) -> Result<(), ReadError<E>> {
        let DocState::Items { chunk, chunk_line } = &mut self.state else {
            return Ok(());
        };
        let chunk_line = *chunk_line;
        let text = std::mem::take(chunk);
        let parsed = goyaml::from_yaml(&text).map_err(|error| {
            let (line, column) = match yaml_position(&error, &text) {
                None => (chunk_line, None),
                Some((line, column)) => (chunk_line + line - 1, column),
            };
            sink.error(
                Some(line),
                column,
                format!(
                    "invalid YAML in list document {}: {}",
                    self.number, error.message
                ),
            )
        })?;
        drop(text);
        let Value::Array(items) = parsed else {
            return Err(sink.error(
                Some(chunk_line),
                None,
                format!(
                    "list document {}: the items are not a YAML sequence",
                    self.number
                ),
            ));
        };
        for object in items {
            self.streamed += 1;
            let object = check_item(object, self.number, self.streamed, chunk_line, sink)?;
            sink.summary.objects += 1;
            sink.emit(Event::Object {
                document: self.number,
                line: chunk_line,
                object,
            })?;
        }
        Ok(())
    }

    /// Ends the document: the last item, then the list itself.
    fn finish<E>(mut self, sink: &mut Sink<'_, E>) -> Result<(), ReadError<E>> {
        match std::mem::replace(&mut self.state, DocState::Text) {
            DocState::Text => {}
            DocState::ItemsKey { line, pending, .. } => {
                // `items:` and nothing after it: null.
                self.push_text(&line);
                for p in &pending {
                    self.push_text(p);
                }
            }
            state @ DocState::Items { .. } => {
                self.state = state;
                self.flush_item(sink)?;
            }
        }
        if self.number == 0 {
            return Ok(());
        }
        let streamed = self.gap.is_some();
        let value = goyaml::from_yaml(&self.text).map_err(|error| {
            let (line, column) = match yaml_position(&error, &self.text) {
                None => (self.content_line, None),
                Some((line, column)) => (self.file_line(line), column),
            };
            sink.error(
                Some(line),
                column,
                format!(
                    "invalid YAML in list document {}: {}",
                    self.number, error.message
                ),
            )
        })?;
        self.text = String::new();
        let here = Some(self.content_line);
        let what = format!("list document {}", self.number);
        let mut map = match value {
            Value::Object(map) => map,
            // Only the items: the checks below say what is missing.
            Value::Null if streamed => Map::new(),
            Value::Null => {
                return Err(sink.error(
                    here,
                    None,
                    format!(
                        "{what} is null; calicoctl writes null when it could not list a kind (for example \
                         `calicoctl datastore migrate export --allow-version-mismatch` against a cluster of \
                         another version), so the file lacks data: {RECREATE}"
                    ),
                ));
            }
            other => {
                return Err(sink.error(
                    here,
                    None,
                    format!(
                        "{what} is {}, not a list such as IPPoolList with items",
                        describe(&other)
                    ),
                ));
            }
        };
        let list_kind = match map.get("kind") {
            Some(Value::String(kind)) if kind.len() > 4 && kind.ends_with("List") => kind.clone(),
            Some(Value::String(kind)) => {
                return Err(sink.error(
                    here,
                    None,
                    format!(
                        "{what} has kind {kind:?}; each document of the first part must be a list of one \
                         kind, such as IPPoolList, with the objects under items"
                    ),
                ));
            }
            Some(other) => {
                return Err(sink.error(
                    here,
                    None,
                    format!("{what}: kind is {}, not a string", describe(other)),
                ));
            }
            None => {
                return Err(sink.error(
                    here,
                    None,
                    format!("{what} has no kind; it must be a list such as IPPoolList with the objects under items"),
                ));
            }
        };
        let resource_version = match map.get("metadata").and_then(|m| m.get("resourceVersion")) {
            None | Some(Value::Null) => None,
            Some(Value::String(version)) => Some(version.clone()),
            Some(Value::Number(version)) => Some(version.to_string()),
            Some(other) => {
                return Err(sink.error(
                    here,
                    None,
                    format!(
                        "{what}: metadata.resourceVersion is {}, not a string",
                        describe(other)
                    ),
                ));
            }
        };
        let items = if streamed {
            if map.contains_key("items") {
                return Err(sink.error(here, None, format!("{what} has more than one items key")));
            }
            self.streamed
        } else {
            whole_document_items(&mut map, &what, self.number, self.content_line, sink)?
        };
        sink.summary.objects += if streamed { 0 } else { items };
        sink.summary.lists.push(ListSummary {
            document: self.number,
            line: self.content_line,
            list_kind: list_kind.clone(),
            resource_version: resource_version.clone(),
            items,
            streamed,
        });
        sink.emit(Event::ListEnd {
            document: self.number,
            line: self.content_line,
            list_kind,
            resource_version,
            items,
        })
    }
}

/// Where a YAML error is in `text` (1-based line, and column), if the parser said. It reports
/// the end of the input on the line after the last, which is in no file: that is the end of
/// the last line.
fn yaml_position(error: &goyaml::YamlError, text: &str) -> Option<(usize, Option<usize>)> {
    if error.line == 0 {
        return None;
    }
    let lines = text.lines().count().max(1);
    Some(if error.line > lines {
        (lines, None)
    } else {
        (error.line, Some(error.column))
    })
}

/// Hands on the items of a document read whole; returns how many there were.
fn whole_document_items<E>(
    map: &mut Map<String, Value>,
    what: &str,
    number: usize,
    line: usize,
    sink: &mut Sink<'_, E>,
) -> Result<u64, ReadError<E>> {
    let items = match map.remove("items") {
        None | Some(Value::Null) => return Ok(0),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(sink.error(
                Some(line),
                None,
                format!("{what}: items is {}, not a list", describe(&other)),
            ));
        }
    };
    let mut count = 0;
    for object in items {
        count += 1;
        let object = check_item(object, number, count, line, sink)?;
        sink.emit(Event::Object {
            document: number,
            line,
            object,
        })?;
    }
    Ok(count)
}

/// Checks that an item is an object with a kind and a name.
fn check_item<E>(
    object: Value,
    document: usize,
    index: u64,
    line: usize,
    sink: &Sink<'_, E>,
) -> Result<Value, ReadError<E>> {
    let what = format!("item {index} of list document {document}");
    let Value::Object(map) = &object else {
        return Err(sink.error(
            Some(line),
            None,
            format!("{what} is {}, not an object", describe(&object)),
        ));
    };
    let kind = match map.get("kind") {
        Some(Value::String(kind)) if !kind.is_empty() => kind,
        _ => return Err(sink.error(Some(line), None, format!("{what} has no kind"))),
    };
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => Ok(object),
        _ => Err(sink.error(
            Some(line),
            None,
            format!("{what} ({kind}) has no metadata.name"),
        )),
    }
}

// ---------------------------------------------------------------------------
// Part 3: the IPAM JSON
// ---------------------------------------------------------------------------

/// The rest of the input as bytes for serde_json, up to the end or to a further `===` line.
struct PartReader<'a, R> {
    lines: &'a mut LineReader<R>,
    pos: usize,
    done: bool,
    hit_separator: bool,
    saw_content: bool,
    failure: Option<PartFailure>,
    /// Bytes read since the last IPAM entry was handed on (shared with [`IpamCtx`]).
    entry_bytes: &'a std::cell::Cell<usize>,
}

enum PartFailure {
    Io(io::Error),
    NotUtf8 { line: usize, message: String },
    TooLarge { line: usize },
}

impl<R: BufRead> Read for PartReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.lines.raw.len() {
                let n = out.len().min(self.lines.raw.len() - self.pos);
                out[..n].copy_from_slice(&self.lines.raw[self.pos..self.pos + n]);
                self.pos += n;
                self.entry_bytes.set(self.entry_bytes.get() + n);
                if self.entry_bytes.get() > MAX_LINE {
                    self.done = true;
                    self.failure = Some(PartFailure::TooLarge {
                        line: self.lines.line,
                    });
                    self.lines.raw.clear();
                    return Err(io::Error::other("entry too large"));
                }
                return Ok(n);
            }
            if self.done {
                return Ok(0);
            }
            self.pos = 0;
            match self.lines.next_raw() {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return Ok(0);
                }
                Err(error) => {
                    self.done = true;
                    self.lines.raw.clear();
                    self.failure = Some(PartFailure::Io(error));
                    return Err(io::Error::other("read failed"));
                }
            }
            if self.lines.is_separator() {
                self.done = true;
                self.hit_separator = true;
                self.lines.raw.clear();
                return Ok(0);
            }
            if let Err(message) = self.lines.piece_text() {
                self.done = true;
                self.failure = Some(PartFailure::NotUtf8 {
                    line: self.lines.line,
                    message,
                });
                self.lines.raw.clear();
                return Err(io::Error::other("not UTF-8"));
            }
            if !self.saw_content && self.lines.raw.iter().any(|b| !b.is_ascii_whitespace()) {
                self.saw_content = true;
            }
        }
    }
}

/// Where the IPAM visitor hands entries; false stops reading (the callback failed).
trait EntrySink {
    fn accept(&mut self, entry: IpamEntry) -> bool;
}

struct IpamCtx<'s, 'f, E> {
    sink: &'s mut Sink<'f, E>,
    callback_error: Option<E>,
    entry_bytes: &'s std::cell::Cell<usize>,
}

impl<E> EntrySink for IpamCtx<'_, '_, E> {
    fn accept(&mut self, entry: IpamEntry) -> bool {
        self.entry_bytes.set(0);
        self.sink.summary.ipam[ipam_index(entry.kind)] += 1;
        match (self.sink.on_event)(Event::Ipam(entry)) {
            Ok(()) => true,
            Err(error) => {
                self.callback_error = Some(error);
                false
            }
        }
    }
}

/// Message of the error that stops serde when the callback failed (never shown).
const STOPPED: &str = "stopped by the caller";

fn read_ipam<R: BufRead, E>(
    lines: &mut LineReader<R>,
    sink: &mut Sink<'_, E>,
) -> Result<(), ReadError<E>> {
    let first = lines.line + 1;
    // A file that ends on the separator, without a line break, has no line after it.
    let last_line = if lines.raw.ends_with(b"\n") {
        first
    } else {
        lines.line
    };
    // The separator line is read: the part starts with the next line.
    lines.raw.clear();
    let entry_bytes = std::cell::Cell::new(0);
    let mut part = PartReader {
        lines,
        pos: 0,
        done: false,
        hit_separator: false,
        saw_content: false,
        failure: None,
        entry_bytes: &entry_bytes,
    };
    let mut ctx = IpamCtx {
        sink,
        callback_error: None,
        entry_bytes: &entry_bytes,
    };
    let result = {
        let mut de =
            serde_json::Deserializer::from_reader(BufReader::with_capacity(1 << 16, &mut part));
        (&mut de)
            .deserialize_map(Root { ctx: &mut ctx })
            .and_then(|()| de.end())
    };
    let IpamCtx {
        sink,
        callback_error,
        ..
    } = ctx;
    if let Some(error) = callback_error {
        return Err(ReadError::Callback(error));
    }
    match part.failure.take() {
        Some(PartFailure::Io(error)) => {
            return Err(ReadError::Io {
                file: sink.name.clone(),
                error,
            });
        }
        Some(PartFailure::NotUtf8 { line, message }) => {
            return Err(sink.error(Some(line), None, message));
        }
        Some(PartFailure::TooLarge { line }) => {
            return Err(sink.error(
                Some(line),
                None,
                format!(
                    "an entry of the IPAM JSON is longer than {} MiB; no IPAM entry is that large, so \
                     the file is damaged: {RECREATE}",
                    MAX_LINE >> 20
                ),
            ));
        }
        None => {}
    }
    if part.hit_separator {
        let mut parts = 4;
        while part.lines.next_raw().map_err(|error| ReadError::Io {
            file: sink.name.clone(),
            error,
        })? {
            if part.lines.is_separator() {
                parts += 1;
            }
        }
        return Err(ReadError::Format(parts_error(&sink.name, parts, None)));
    }
    let Err(error) = result else { return Ok(()) };
    if !part.saw_content {
        return Err(sink.error(
            Some(last_line),
            None,
            format!("the third part, the IPAM JSON, is empty (an export without IPAM data has {{}}): {RECREATE}"),
        ));
    }
    let line = Some(first + error.line().saturating_sub(1));
    let column = (error.column() > 0).then_some(error.column());
    let message = match error.classify() {
        serde_json::error::Category::Eof => {
            format!(
                "the IPAM JSON ends early ({}); the file is truncated: {RECREATE}",
                json_message(&error)
            )
        }
        serde_json::error::Category::Data => format!("in the IPAM JSON: {}", json_message(&error)),
        _ => format!("invalid IPAM JSON: {}", json_message(&error)),
    };
    Err(sink.error(line, column, message))
}

/// The IPAM object.
struct Root<'c> {
    ctx: &'c mut dyn EntrySink,
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the IPAM object {\"block_affinities\": [...], \"blocks\": [...], \"handles\": [...], \"config\": {...}}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = [false; 4];
        while let Some(field) = map.next_key::<String>()? {
            let Some(kind) = IpamKind::ALL.into_iter().find(|k| k.field() == field) else {
                return Err(de::Error::custom(format!(
                    "unknown field {field:?}; the IPAM object has only block_affinities, blocks, handles and config"
                )));
            };
            if std::mem::replace(&mut seen[ipam_index(kind)], true) {
                return Err(de::Error::custom(format!("field {field:?} appears twice")));
            }
            map.next_value_seed(Section {
                ctx: &mut *self.ctx,
                kind,
            })?;
        }
        Ok(())
    }
}

/// One field of the IPAM object: a list of entries, or the config entry; null is empty.
struct Section<'c> {
    ctx: &'c mut dyn EntrySink,
    kind: IpamKind,
}

impl<'de> DeserializeSeed<'de> for Section<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Section<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if self.kind == IpamKind::Config {
            f.write_str("the config entry {\"Key\": ..., \"Value\": {...}, \"TTL\": 0}")
        } else {
            write!(f, "a list of {} entries", self.kind.field())
        }
    }

    fn visit_none<Er: de::Error>(self) -> Result<(), Er> {
        Ok(())
    }

    fn visit_unit<Er: de::Error>(self) -> Result<(), Er> {
        Ok(())
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        if self.kind == IpamKind::Config {
            let entry = EntrySeed {
                kind: self.kind,
                index: 1,
            }
            .deserialize(deserializer)?;
            if !self.ctx.accept(entry) {
                return Err(de::Error::custom(STOPPED));
            }
            Ok(())
        } else {
            deserializer.deserialize_seq(Entries {
                ctx: self.ctx,
                kind: self.kind,
            })
        }
    }
}

struct Entries<'c> {
    ctx: &'c mut dyn EntrySink,
    kind: IpamKind,
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list of {} entries", self.kind.field())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(entry) = seq.next_element_seed(EntrySeed {
            kind: self.kind,
            index: index + 1,
        })? {
            index += 1;
            if !self.ctx.accept(entry) {
                return Err(de::Error::custom(STOPPED));
            }
        }
        Ok(())
    }
}

struct EntrySeed {
    kind: IpamKind,
    index: u64,
}

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = IpamEntry;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<IpamEntry, D::Error> {
        deserializer.deserialize_map(EntryVisitor {
            kind: self.kind,
            index: self.index,
        })
    }
}

/// One `{"Key": …, "Value": {…}, "TTL": 0}`.
struct EntryVisitor {
    kind: IpamKind,
    index: u64,
}

impl EntryVisitor {
    fn what(&self) -> String {
        if self.kind == IpamKind::Config {
            "the config entry".to_string()
        } else {
            format!("{} entry {}", self.kind.field(), self.index)
        }
    }
}

fn key_matches(kind: IpamKind, key: &str) -> bool {
    matches!(
        (kind, parse_ipam_key(key)),
        (IpamKind::BlockAffinity, IpamKey::Affinity { .. })
            | (IpamKind::Block, IpamKey::Block { .. })
            | (IpamKind::Handle, IpamKey::Handle { .. })
            | (IpamKind::Config, IpamKey::Config)
    )
}

fn expected_key(kind: IpamKind) -> &'static str {
    match kind {
        IpamKind::BlockAffinity => {
            "a block affinity key (/calico/ipam/v2/host/<node>/ipv4|ipv6/block/<network>-<prefix length>)"
        }
        IpamKind::Block => {
            "an IPAM block key (/calico/ipam/v2/assignment/ipv4|ipv6/block/<network>-<prefix length>)"
        }
        IpamKind::Handle => "an IPAM handle key (/calico/ipam/v2/handle/<handle ID>)",
        IpamKind::Config => "the IPAM config key (/calico/ipam/v2/config)",
    }
}

impl<'de> Visitor<'de> for EntryVisitor {
    type Value = IpamEntry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "{} as {{\"Key\": ..., \"Value\": {{...}}, \"TTL\": 0}}",
            self.what()
        )
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IpamEntry, A::Error> {
        let mut key: Option<String> = None;
        let mut value: Option<Value> = None;
        let mut ttl = false;
        while let Some(field) = map.next_key::<String>()? {
            let twice = || de::Error::custom(format!("{}: {field} appears twice", self.what()));
            match field.as_str() {
                "Key" => {
                    if key.is_some() {
                        return Err(twice());
                    }
                    let k: String = map.next_value()?;
                    if !key_matches(self.kind, &k) {
                        return Err(de::Error::custom(format!(
                            "{}: {k:?} is not {}",
                            self.what(),
                            expected_key(self.kind)
                        )));
                    }
                    key = Some(k);
                }
                "Value" => {
                    if value.is_some() {
                        return Err(twice());
                    }
                    let v: Value = map.next_value()?;
                    if !v.is_object() {
                        return Err(de::Error::custom(format!(
                            "{}: Value is {}, not a JSON object",
                            self.what(),
                            describe(&v)
                        )));
                    }
                    value = Some(v);
                }
                "TTL" => {
                    if std::mem::replace(&mut ttl, true) {
                        return Err(twice());
                    }
                    let t: Value = map.next_value()?;
                    if !(t.is_i64() || t.is_u64()) {
                        return Err(de::Error::custom(format!(
                            "{}: TTL is {}, not a whole number of nanoseconds",
                            self.what(),
                            describe(&t)
                        )));
                    }
                }
                other => {
                    return Err(de::Error::custom(format!(
                        "{}: unknown field {other:?}; an entry has only Key, Value and TTL",
                        self.what()
                    )));
                }
            }
        }
        let Some(key) = key else {
            return Err(de::Error::custom(format!("{} has no Key", self.what())));
        };
        let Some(value) = value else {
            return Err(de::Error::custom(format!(
                "{} ({key}) has no Value",
                self.what()
            )));
        };
        Ok(IpamEntry::new(self.kind, key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::export_writer::ExportWriter;
    use crate::format::export_writer::tests::{sample_ipam, write};
    use serde_json::json;

    const NAME: &str = "export.txt";

    /// Every event, read with items streamed (`stream`) or with whole documents.
    fn events(text: &str, stream: bool) -> Result<(Vec<Event>, Summary), ReadError<Infallible>> {
        let mut out = Vec::new();
        let summary = read_with(
            text.as_bytes(),
            NAME,
            &mut |e| {
                out.push(e);
                Ok::<(), Infallible>(())
            },
            stream,
        )?;
        Ok((out, summary))
    }

    /// Reads `text` both ways, checks both give the same events, and returns them.
    fn read_both(text: &str) -> (ExportFile, Summary) {
        let (streamed, summary) = events(text, true).unwrap_or_else(|e| panic!("{e}"));
        let (whole, whole_summary) = events(text, false).unwrap_or_else(|e| panic!("{e}"));
        let strip = |events: Vec<Event>| -> Vec<Event> {
            events
                .into_iter()
                .map(|e| match e {
                    Event::Object {
                        document, object, ..
                    } => Event::Object {
                        document,
                        line: 0,
                        object,
                    },
                    other => other,
                })
                .collect()
        };
        assert_eq!(
            strip(streamed.clone()),
            strip(whole),
            "streaming and whole-document reading differ"
        );
        assert_eq!(summary.objects, whole_summary.objects);
        assert_eq!(summary.ipam, whole_summary.ipam);
        let mut collector = Collector::default();
        for e in streamed {
            collector.add(e);
        }
        (collector.finish(), summary)
    }

    fn format_error(text: &str) -> FormatError {
        match events(text, true) {
            Err(ReadError::Format(error)) => error,
            Err(other) => panic!("not a format error: {other}"),
            Ok(_) => panic!("no error for:\n{text}"),
        }
    }

    fn assert_error(text: &str, line: Option<usize>, needle: &str) -> FormatError {
        let error = format_error(text);
        assert!(
            error.message.contains(needle),
            "{error} does not contain {needle:?}"
        );
        assert_eq!(error.line, line, "{error}");
        assert_eq!(error.file, NAME);
        error
    }

    const TAIL: &str = "===\n{}\n===\n{}\n";

    fn pool(name: &str) -> Value {
        json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"creationTimestamp": null, "name": name}, "spec": {"cidr": "10.0.0.0/16"}})
    }

    fn sample_items() -> Vec<(&'static str, Vec<Value>)> {
        let long = "a long description with spaces that goes on and on past the eighty columns that go-yaml folds plain scalars at, twice over, so that it needs a third line as well";
        vec![
            ("IPPool", vec![pool("a"), pool("b")]),
            ("BGPPeer", vec![]),
            (
                "GlobalNetworkPolicy",
                vec![json!({
                    "apiVersion": "projectcalico.org/v3",
                    "kind": "GlobalNetworkPolicy",
                    "metadata": {
                        "annotations": {
                            "long": long,
                            "quoted-long": format!("'{long}'"),
                            "escaped-long": format!("tab\there {long}"),
                            "literal": "line 1\nline 2\n\n  indented line\n",
                            "strip": "no final break\nsecond",
                            "keep": "two final breaks\n\n",
                            "leading-space": " starts with a space\nand goes on\n",
                            "ends-with-separators": "x ===\n===\n---\n...\n- not an item\n# not a comment\n",
                            "unicode": "Zoë Müller — 東京 \u{1F680} \u{feff}",
                            "yamlish": "yes", "number": "1234", "float": "1e3", "empty": "", "colon": "a: b", "hash": "a #b",
                            "base60": "20:21", "bang": "!has(x)", "star": "*.example.com", "nul": "a\u{0}b",
                        },
                        "creationTimestamp": null,
                        "labels": {"projectcalico.org/tier": "default"},
                        "name": "p1",
                    },
                    "spec": {
                        "order": 1500.5,
                        "big": 18446744073709551615u64,
                        "negative": -7,
                        "zero": 0,
                        "tiny": 1e-7,
                        "huge": 1e21,
                        "null": null,
                        "bools": [true, false],
                        "nested": [[1, [2, []]], {}, [{"a": [{}]}], null],
                        "ingress": [{"action": "Allow", "source": {"nets": ["::/0", "fd00::/8"]}}],
                        "selector": "projectcalico.org/namespace in {'kube-system', 'calico-system', 'tigera-operator', 'monitoring'}",
                    },
                })],
            ),
            ("NetworkSet", vec![]),
            (
                "Node",
                vec![
                    json!({"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"creationTimestamp": null, "name": "n1"}, "spec": {"orchRefs": [{"nodeName": "n1", "orchestrator": "k8s"}]}, "status": {}}),
                    // Items that end with a literal keeping its final line breaks: the blank
                    // lines before the next item and before `kind:` belong to the value.
                    json!({"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "n2"}, "status": {"zz": "keep\n\n\n"}}),
                    json!({"apiVersion": "projectcalico.org/v3", "kind": "Node", "metadata": {"name": "n3"}, "status": {"zz": "  indented\n\n"}}),
                ],
            ),
            ("BGPFilter", vec![]),
        ]
    }

    #[test]
    fn what_the_writer_writes_reads_back_identically() {
        let cluster = json!({"kind": "ClusterInformation", "apiVersion": "projectcalico.org/v3", "metadata": {"name": "default", "uid": "u", "resourceVersion": "9", "creationTimestamp": "2024-05-01T10:00:00Z"}, "spec": {"clusterGUID": "g", "datastoreReady": false, "html": "<a&b>"}});
        let lists = sample_items();
        let full = sample_ipam();
        let ipam_cases: Vec<Vec<IpamEntry>> = vec![
            vec![],
            full.clone(),
            full.iter()
                .filter(|e| e.kind == IpamKind::Config)
                .cloned()
                .collect(),
            full.iter()
                .filter(|e| e.kind == IpamKind::Handle)
                .cloned()
                .collect(),
            full.iter()
                .filter(|e| e.kind != IpamKind::Config)
                .cloned()
                .collect(),
        ];
        for ipam in ipam_cases {
            let text = write(&lists, &cluster, &ipam);
            assert!(
                text.contains("    zz: |+\n      keep\n\n\n- apiVersion"),
                "{text}"
            );
            assert!(
                text.contains("    zz: |2+\n        indented\n\nkind: NodeList"),
                "{text}"
            );
            let (file, summary) = read_both(&text);
            let expected: Vec<(String, Vec<Value>)> = lists
                .iter()
                .map(|(kind, items)| (format!("{kind}List"), items.clone()))
                .collect();
            assert_eq!(file.lists, expected);
            assert_eq!(file.cluster_information, cluster);
            assert_eq!(file.ipam, ipam);
            // Values keep their key order, as Go writes them.
            for (read, written) in file.ipam.iter().zip(&ipam) {
                assert_eq!(gojson_text(&read.value), gojson_text(&written.value));
            }
            assert_eq!(summary.objects, 6);
            assert_eq!(summary.lists.len(), lists.len());
            for (list, (kind, items)) in summary.lists.iter().zip(&lists) {
                assert_eq!(list.list_kind, format!("{kind}List"));
                assert_eq!(list.items, items.len() as u64);
                assert_eq!(list.resource_version.as_deref(), Some("1234"));
                assert_eq!(
                    list.streamed,
                    !items.is_empty(),
                    "go-yaml's layout is streamed"
                );
            }
            for kind in IpamKind::ALL {
                assert_eq!(
                    summary.ipam_count(kind),
                    ipam.iter().filter(|e| e.kind == kind).count() as u64
                );
            }
            assert_eq!(summary.lines, text.lines().count());
            // And writing what was read gives the same bytes.
            assert_eq!(rewrite(&file, 1234), text);
        }
    }

    fn gojson_text(v: &Value) -> String {
        go_compat::json::marshal(v)
    }

    /// Writes a file read back with the writer (every list gets `revision`).
    fn rewrite(file: &ExportFile, revision: i64) -> String {
        let mut writer = ExportWriter::new(Vec::new(), false);
        for (kind, items) in &file.lists {
            writer
                .begin_list(kind.strip_suffix("List").unwrap())
                .unwrap();
            for item in items {
                writer.item(item).unwrap();
            }
            writer.end_list(revision).unwrap();
        }
        writer
            .cluster_information(&file.cluster_information)
            .unwrap();
        for e in &file.ipam {
            writer.ipam_entry(e).unwrap();
        }
        String::from_utf8(writer.finish().unwrap()).unwrap()
    }

    #[test]
    fn object_events_carry_document_and_line() {
        let text = write(
            &[
                ("IPPool", vec![pool("a"), pool("b")]),
                ("BGPPeer", vec![]),
                ("Tier", vec![pool("c")]),
            ],
            &json!({}),
            &[],
        );
        let (events, _) = events(&text, true).unwrap();
        let positions: Vec<(usize, usize)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Object { document, line, .. } => Some((*document, *line)),
                _ => None,
            })
            .collect();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(positions.len(), 3);
        for (_, line) in &positions {
            assert!(lines[line - 1].starts_with("- apiVersion"), "line {line}");
        }
        assert_eq!(positions.iter().map(|p| p.0).collect::<Vec<_>>(), [1, 1, 3]);
        let ends: Vec<(usize, usize, String, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::ListEnd {
                    document,
                    line,
                    list_kind,
                    items,
                    ..
                } => Some((*document, *line, list_kind.clone(), *items)),
                _ => None,
            })
            .collect();
        assert_eq!(ends[0], (1, 1, "IPPoolList".into(), 2));
        assert_eq!(ends[1].2, "BGPPeerList");
        assert_eq!(ends[1].3, 0);
        assert_eq!(ends[2].0, 3);
        assert!(matches!(events.last(), Some(Event::ClusterInformation(_))));
    }

    // -----------------------------------------------------------------------
    // Files in calicoctl's format (hand-made, tests/fixtures/handmade/)
    // -----------------------------------------------------------------------

    fn fixture(name: &str) -> (std::path::PathBuf, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/handmade")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text)
    }

    /// Checks every object of a calicoctl file against an independent reading: the YAML part
    /// split into documents and parsed whole, and the two JSON parts parsed whole.
    fn check_against_whole_parse(text: &str, file: &ExportFile) {
        let parts: Vec<&str> = text.split("===\n").collect();
        assert_eq!(parts.len(), 3);
        let documents = goyaml::from_yaml_documents(parts[0]).unwrap();
        assert_eq!(file.lists.len(), documents.len());
        for ((kind, items), document) in file.lists.iter().zip(&documents) {
            assert_eq!(document["kind"], json!(kind));
            assert_eq!(&json!(items), &document["items"], "{kind}");
            for item in items {
                assert_eq!(
                    item["metadata"]["creationTimestamp"],
                    Value::Null,
                    "export clears it"
                );
                assert_eq!(item["apiVersion"], "projectcalico.org/v3");
                assert_eq!(format!("{}List", item["kind"].as_str().unwrap()), *kind);
            }
        }
        let cluster: Value = serde_json::from_str(parts[1]).unwrap();
        assert_eq!(file.cluster_information, cluster);
        let ipam: Value = serde_json::from_str(parts[2]).unwrap();
        assert_eq!(crate::convert::ipam::ipam_json(&file.ipam), ipam);
    }

    #[test]
    fn calicoctl_v3_28_file() {
        let (path, text) = fixture("calicoctl-v3.28-export.txt");
        let file = read_to_end(&path).unwrap();
        let summary = check_file(&path).unwrap();
        // The file's documents, in its order.
        let kinds: Vec<&str> = file.lists.iter().map(|(k, _)| k.as_str()).collect();
        let written: Vec<&str> = text
            .lines()
            .filter_map(|line| line.strip_prefix("kind: "))
            .filter(|kind| kind.ends_with("List"))
            .collect();
        assert_eq!(kinds, written);
        let counts: Vec<usize> = file.lists.iter().map(|(_, items)| items.len()).collect();
        assert_eq!(counts, [2, 2, 2, 1, 1, 1, 2, 0, 3, 2, 2]);
        assert!(
            summary
                .lists
                .iter()
                .all(|l| l.resource_version.as_deref() == Some("81234"))
        );
        assert!(summary.lists.iter().all(|l| l.streamed == (l.items > 0)));
        assert_eq!(summary.ipam, [3, 4, 5, 1]);
        check_against_whole_parse(&text, &file);

        // Values that go-yaml writes in special ways.
        let gnp = &file.lists[2].1;
        assert_eq!(
            gnp[0]["metadata"]["annotations"]["description"],
            "Allows DNS from every workload to kube-dns, and denies egress to the cloud metadata service, which listens on a well-known link-local address."
        );
        assert_eq!(
            gnp[0]["spec"]["egress"][0]["destination"]["ports"],
            json!([53])
        );
        assert_eq!(
            gnp[1]["spec"]["ingress"][0]["source"]["nets"],
            json!(["::/0", "0.0.0.0/0"])
        );
        assert_eq!(gnp[1]["spec"]["order"], json!(1500.5));
        assert_eq!(gnp[1]["spec"]["selector"], "!has(projectcalico.org/exempt)");
        let hep = &file.lists[4].1[0];
        assert_eq!(hep["spec"]["ports"][1]["port"], 21);
        assert_eq!(
            hep["spec"]["node"], "worker-1.example.com",
            "calicoctl does not remap it"
        );
        let np = &file.lists[6].1[0];
        assert_eq!(
            np["metadata"]["annotations"]["rationale"],
            "Only the frontend may call the backend.\nReviewed by Zoë Müller — platform team.\n"
        );
        assert_eq!(
            np["spec"]["ingress"][0]["destination"]["ports"],
            json!([8080, "9000:9100"])
        );
        let nodes = &file.lists[8].1;
        assert_eq!(nodes[1]["spec"]["vxlanTunnelMACAddr"], "66:1d:2c:3f:4a:5b");
        assert_eq!(nodes[0]["status"], json!({}));
        assert_eq!(file.lists[10].1[0]["spec"]["bpfLogLevel"], "");
        assert_eq!(file.cluster_information["spec"]["calicoVersion"], "v3.28.2");
        assert_eq!(
            file.cluster_information["metadata"]["uid"],
            "3d8a3f9e-5b1c-4c3e-9b9a-2f6e4c1d7a10"
        );
        let old_affinity = &file.ipam[2];
        assert_eq!(old_affinity.kind, IpamKind::BlockAffinity);
        assert_eq!(
            gojson_text(&old_affinity.value),
            r#"{"state":"","deleted":false}"#
        );
        let block = file
            .ipam
            .iter()
            .find(|e| e.key.ends_with("/10.65.79.0-26") && e.kind == IpamKind::Block)
            .unwrap();
        assert_eq!(block.value["allocations"].as_array().unwrap().len(), 64);
        assert_eq!(block.value["allocations"][3], Value::Null);
        assert_eq!(
            block.value["attributes"][3],
            json!({"handle_id": null, "secondary": null})
        );
        crate::convert::ipam::tests::assert_go_block_field_order(&block.value);
        assert_eq!(
            file.ipam.last().unwrap().value,
            json!({"strict_affinity": true, "auto_allocate_blocks": true})
        );

        assert_eq!(
            rewrite(&file, 81234),
            text,
            "the writer reproduces calicoctl's bytes"
        );
    }

    #[test]
    fn calicoctl_v3_32_file() {
        let (path, text) = fixture("calicoctl-v3.32-export.txt");
        let file = read_to_end(&path).unwrap();
        let kinds: Vec<String> = file.lists.iter().map(|(k, _)| k.clone()).collect();
        let expected: Vec<String> = crate::kinds::CalicoKind::exported()
            .map(|k| format!("{}List", k.kind))
            .collect();
        assert_eq!(kinds, expected, "17 documents in calicoctl's order");
        let counts: Vec<usize> = file.lists.iter().map(|(_, items)| items.len()).collect();
        assert_eq!(counts, [2, 0, 4, 2, 1, 0, 1, 1, 2, 1, 1, 0, 2, 1, 2, 1, 1]);
        check_against_whole_parse(&text, &file);

        for (kind, items) in &file.lists {
            if kind.ends_with("NetworkPolicyList") && kind != "StagedKubernetesNetworkPolicyList" {
                for item in items {
                    let tier = item["spec"]["tier"].as_str().unwrap();
                    assert_eq!(
                        item["metadata"]["labels"]["projectcalico.org/tier"], tier,
                        "{kind}"
                    );
                }
            }
        }
        let gnp = &file.lists[3].1[1];
        assert_eq!(gnp["metadata"]["annotations"]["note"], "ship it \u{1F680}");
        assert_eq!(
            gnp["spec"]["selector"],
            "projectcalico.org/namespace in {'kube-system', 'calico-system', 'tigera-operator', 'monitoring', 'logging'} && !has(projectcalico.org/exempt)"
        );
        assert_eq!(file.lists[2].1[0]["spec"]["order"], json!(1000000));
        assert_eq!(
            file.lists[6].1[0]["metadata"]["labels"]["environment"],
            "on"
        );
        assert_eq!(file.lists[6].1[0]["spec"]["profiles"], json!([]));
        assert_eq!(
            file.lists[10].1[0]["spec"]["ingress"][0]["from"],
            json!([{"podSelector": {}}])
        );
        assert!(file.lists[8].1[0]["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap()
            .ends_with("}}\n"));
        assert_eq!(
            file.lists[12].1[0]["metadata"]["labels"]["node-role.kubernetes.io/control-plane"],
            ""
        );
        assert_eq!(
            file.lists[13].1[0]["spec"]["asNumber"],
            json!(4200000000u64)
        );
        assert_eq!(
            file.lists[13].1[0]["spec"]["communities"][0]["value"],
            "64512:100"
        );
        let blocks: Vec<&IpamEntry> = file
            .ipam
            .iter()
            .filter(|e| e.kind == IpamKind::Block)
            .collect();
        assert_eq!(
            blocks[0].value["affinity_claim_time"],
            "2025-06-18T14:05:01Z"
        );
        assert_eq!(
            blocks[0].value["attributes"][2]["alternateOwnerAttrs"]["node"],
            "edge-1"
        );
        assert_eq!(blocks[1].value["attributes"][1], json!({}));
        assert_eq!(blocks[2].value["affinity"], "virtual:load-balancer");
        assert_eq!(file.ipam.last().unwrap().value["maxBlocksPerHost"], 4);

        let resource_versions: Vec<Option<String>> = check_file(&path)
            .unwrap()
            .lists
            .into_iter()
            .map(|l| l.resource_version)
            .collect();
        assert!(
            resource_versions
                .iter()
                .all(|v| v.as_deref() == Some("2215537"))
        );
        assert_eq!(
            rewrite(&file, 2215537),
            text,
            "the writer reproduces calicoctl's bytes"
        );
    }

    // -----------------------------------------------------------------------
    // Hand-edited files
    // -----------------------------------------------------------------------

    fn one_pool_file(yaml: &str) -> String {
        format!("{yaml}{TAIL}")
    }

    #[test]
    fn items_null_missing_or_empty() {
        for yaml in [
            "apiVersion: projectcalico.org/v3\nitems: null\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"1\"\n---\n",
            "apiVersion: projectcalico.org/v3\nitems:\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"1\"\n---\n",
            "apiVersion: projectcalico.org/v3\nitems: # nothing\n\n# at all\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"1\"\n---\n",
            "apiVersion: projectcalico.org/v3\nitems: # nothing\n",
            "apiVersion: projectcalico.org/v3\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"1\"\n---\n",
            "apiVersion: projectcalico.org/v3\nitems: []\nkind: IPPoolList\n---\n",
            "apiVersion: projectcalico.org/v3\nitems: ~\nkind: IPPoolList\n",
        ] {
            let text = one_pool_file(yaml);
            if !yaml.contains("kind:") {
                assert_error(&text, Some(1), "has no kind");
                continue;
            }
            let (file, summary) = read_both(&text);
            assert_eq!(
                file.lists,
                vec![("IPPoolList".to_string(), vec![])],
                "{yaml}"
            );
            assert_eq!(summary.lists[0].items, 0);
        }
    }

    #[test]
    fn other_layouts_read_whole_and_give_the_same_values() {
        let expected = vec![("IPPoolList".to_string(), vec![pool("a"), pool("b")])];
        let block = "apiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    creationTimestamp: null\n    name: a\n  spec:\n    cidr: 10.0.0.0/16\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    creationTimestamp: null\n    name: b\n  spec:\n    cidr: 10.0.0.0/16\nkind: IPPoolList\nmetadata:\n  resourceVersion: \"7\"\n---\n";
        let cases: Vec<(&str, String, bool)> = vec![
            ("go-yaml", block.to_string(), true),
            ("flow items", "apiVersion: projectcalico.org/v3\nitems: [{apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {creationTimestamp: null, name: a}, spec: {cidr: 10.0.0.0/16}},\n  {apiVersion: projectcalico.org/v3, kind: IPPool, metadata: {creationTimestamp: null, name: b}, spec: {cidr: 10.0.0.0/16}}]\nkind: IPPoolList\nmetadata: {resourceVersion: \"7\"}\n---\n".into(), false),
            ("all flow", "{\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPoolList\", \"metadata\": {\"resourceVersion\": \"7\"},\n \"items\": [{\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPool\", \"metadata\": {\"creationTimestamp\": null, \"name\": \"a\"}, \"spec\": {\"cidr\": \"10.0.0.0/16\"}}, {\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPool\", \"metadata\": {\"creationTimestamp\": null, \"name\": \"b\"}, \"spec\": {\"cidr\": \"10.0.0.0/16\"}}]}\n".into(), false),
            ("indented sequence", block.replace("\n- ", "\n  - ").replace("\n  k", "\n    k").replace("\n  m", "\n    m").replace("\n    c", "\n      c").replace("\n    n", "\n      n").replace("\n  s", "\n    s").replace("\n  a", "\n    a").replace("\n    kind: IPPoolList", "\nkind: IPPoolList").replace("\n    metadata:\n      resourceVersion", "\nmetadata:\n  resourceVersion"), false),
            ("kind first, items last, no final ---", "kind: IPPoolList\nmetadata:\n  resourceVersion: \"7\"\napiVersion: projectcalico.org/v3\nitems:\n- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata: {creationTimestamp: null, name: a}\n  spec: {cidr: 10.0.0.0/16}\n-\n  apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    creationTimestamp:\n    name: \"b\"\n  spec:\n    cidr: 10.0.0.0/16\n".into(), true),
            ("comments, blank lines, leading --- and empty documents", format!("# exported by hand\n---\n\n---\n# nothing here\n---\n{}", block.replace("items:\n", "items:   # the pools\n\n# first\n").replace("  kind: IPPool\n", "  kind: IPPool # inline\n# a comment at column 0 inside an item\n\n")), true),
            ("document end markers", block.replace("---\n", "...\n---\n...\n"), true),
            ("content on the --- line", format!("--- {}", "{\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPoolList\", \"metadata\": {\"resourceVersion\": \"7\"},\n \"items\": [{\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPool\", \"metadata\": {\"creationTimestamp\": null, \"name\": \"a\"}, \"spec\": {\"cidr\": \"10.0.0.0/16\"}}, {\"apiVersion\": \"projectcalico.org/v3\", \"kind\": \"IPPool\", \"metadata\": {\"creationTimestamp\": null, \"name\": \"b\"}, \"spec\": {\"cidr\": \"10.0.0.0/16\"}}]}\n"), false),
            ("tab after the dash", block.replace("- apiVersion", "-\tapiVersion"), true),
        ];
        for (what, yaml, streamed) in cases {
            let text = one_pool_file(&yaml);
            let (file, summary) = read_both(&text);
            assert_eq!(file.lists, expected, "{what}");
            assert_eq!(summary.lists.len(), 1, "{what}");
            assert_eq!(summary.lists[0].streamed, streamed, "{what}");
            assert_eq!(
                summary.lists[0].resource_version.as_deref(),
                Some("7"),
                "{what}"
            );
            assert_eq!(summary.objects, 2, "{what}");
        }
    }

    #[test]
    fn crlf_bom_and_numeric_resource_version() {
        let text = write(
            &sample_items(),
            &json!({"kind": "ClusterInformation"}),
            &sample_ipam(),
        );
        let crlf = format!("\u{feff}{}", text.replace('\n', "\r\n"));
        let (file, summary) = read_both(&crlf);
        let (plain, _) = read_both(&text);
        assert_eq!(file, plain);
        assert!(summary.lists.iter().all(|l| l.streamed || l.items == 0));
        let numeric = one_pool_file(
            "apiVersion: projectcalico.org/v3\nitems: []\nkind: IPPoolList\nmetadata:\n  resourceVersion: 42\n",
        );
        let (_, summary) = read_both(&numeric);
        assert_eq!(summary.lists[0].resource_version.as_deref(), Some("42"));
    }

    #[test]
    fn separators_are_whole_lines_only() {
        let item = json!({"apiVersion": "projectcalico.org/v3", "kind": "IPPool", "metadata": {"name": "x===", "annotations": {"a": "b===\n===\nc"}}});
        let text = write(
            &[("IPPool", vec![item.clone()])],
            &json!({"note": "==="}),
            &[],
        );
        assert!(
            text.contains("b===\n        ===\n"),
            "go-yaml indents the literal, so no line is a separator:\n{text}"
        );
        let (file, _) = read_both(&text);
        assert_eq!(file.lists[0].1, vec![item]);
        // A YAML line ending in `===`, which breaks calicoctl's split, is read correctly.
        assert!(text.contains("name: x===\n"));
    }

    // -----------------------------------------------------------------------
    // Errors
    // -----------------------------------------------------------------------

    #[test]
    fn wrong_number_of_parts() {
        for (text, parts) in [
            ("", 1),
            ("apiVersion: v1\nkind: IPPoolList\n", 1),
            ("kind: IPPoolList\n===\n{}\n", 2),
            ("===\n{}\n===\n{}\n===\n{}\n", 4),
            ("===\n{}\n===\n{\n===\n===\n", 5),
            ("===\n{}\n===\n{}\n=== \n", 3),
        ] {
            if parts == 3 {
                assert_error(text, Some(5), "invalid IPAM JSON");
                continue;
            }
            let error = format_error(text);
            assert_eq!(error.line, None);
            assert!(
                error.message.starts_with(&format!("found {parts} part")),
                "{error}"
            );
            assert!(
                error
                    .message
                    .contains("recreate it with kubectl calico-migrate export"),
                "{error}"
            );
        }
        // read_file counts before reading: no event at all.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two-parts.txt");
        std::fs::write(
            &path,
            write(&[("IPPool", vec![pool("a")])], &json!({}), &[]).replacen(
                "===\n{}\n===\n",
                "===\n",
                1,
            ),
        )
        .unwrap();
        let mut seen = 0;
        let error = read_file(&path, |_| {
            seen += 1;
            Ok::<(), Infallible>(())
        })
        .unwrap_err();
        assert_eq!(seen, 0);
        assert!(
            error
                .to_string()
                .starts_with(&format!("{}: found 2 parts", path.display())),
            "{error}"
        );
        let missing =
            read_file(&dir.path().join("nope"), |_| Ok::<(), Infallible>(())).unwrap_err();
        assert!(matches!(missing, ReadError::Io { .. }));
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
    }

    #[test]
    fn yaml_errors_name_their_line() {
        let head = "apiVersion: projectcalico.org/v3\nitems:\n";
        let item = "- apiVersion: projectcalico.org/v3\n  kind: IPPool\n  metadata:\n    name: a\n";
        // In a streamed item (line 7: the bad line of the second item).
        let text = format!("{head}{item}{item}  spec: [unclosed\nkind: IPPoolList\n---\n{TAIL}");
        // (The parser reports the unclosed bracket where it opens.)
        let error = assert_error(&text, Some(11), "invalid YAML in list document 1");
        assert_eq!(error.column, Some(9));
        let text = format!("{head}{item}{item}  spec: {{a: b}}}}\nkind: IPPoolList\n---\n{TAIL}");
        let error = assert_error(&text, Some(11), "invalid YAML in list document 1");
        assert!(error.column.is_some());
        // After the streamed items: the line counts the items left out.
        let text = format!(
            "{head}{item}{item}kind: IPPoolList\nmetadata: {{resourceVersion: \"1\"\n---\n{TAIL}"
        );
        assert_error(&text, Some(12), "invalid YAML in list document 1");
        let text = format!(
            "{head}{item}{item}kind: IPPoolList\nmetadata: {{resourceVersion: \"1\"}}}}\n---\n{TAIL}"
        );
        assert_error(&text, Some(12), "invalid YAML in list document 1");
        // Before the items.
        let text = format!(
            "apiVersion: [\n{}kind: IPPoolList\n---\n{TAIL}",
            &head[33..]
        );
        let error = format_error(&text);
        assert!(error.message.contains("invalid YAML"), "{error}");
        assert!(error.line.is_some_and(|l| l <= 3), "{error}");
        // In the second document, read whole.
        let text = format!(
            "{head}{item}kind: IPPoolList\n---\nkind: BGPPeerList\nitems: [\n  {{a: b\n---\n{TAIL}"
        );
        let error = format_error(&text);
        assert!(
            error.message.contains("invalid YAML in list document 2"),
            "{error}"
        );
        assert!(
            error.line.is_some_and(|l| (10..=12).contains(&l)),
            "{error}"
        );
        assert!(error.to_string().starts_with("export.txt:1"), "{error}");
        // Tabs as indentation inside an item.
        let text = format!(
            "{head}- apiVersion: projectcalico.org/v3\n\tkind: IPPool\nkind: IPPoolList\n{TAIL}"
        );
        assert_error(&text, Some(4), "invalid YAML in list document 1");
    }

    #[test]
    fn documents_that_are_not_lists() {
        assert_error(
            &one_pool_file(
                "apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: a\n---\n",
            ),
            Some(1),
            "list document 1 has kind \"IPPool\"",
        );
        assert_error(
            &one_pool_file("---\n# c\njust a string\n---\n"),
            Some(3),
            "list document 1 is a string",
        );
        assert_error(
            &one_pool_file("- a\n- b\n"),
            Some(1),
            "is a list, not a list such as IPPoolList",
        );
        assert_error(&one_pool_file("kind: 5\n"), Some(1), "kind is a number");
        assert_error(&one_pool_file("kind: List\n"), Some(1), "has kind \"List\"");
        let null = assert_error(
            &one_pool_file("kind: IPPoolList\n---\nnull\n---\n"),
            Some(3),
            "list document 2 is null",
        );
        assert!(null.message.contains("--allow-version-mismatch"), "{null}");
        assert_error(
            &one_pool_file("kind: IPPoolList\nitems: 5\n"),
            Some(1),
            "items is a number, not a list",
        );
        assert_error(
            &one_pool_file("kind: IPPoolList\nmetadata:\n  resourceVersion: [1]\n"),
            Some(1),
            "resourceVersion is a list",
        );
        let twice = "kind: IPPoolList\nitems:\n- kind: IPPool\n  metadata: {name: a}\nitems: []\n";
        assert_error(&one_pool_file(twice), Some(1), "more than one items key");
        assert_error(
            &one_pool_file("items:\n- kind: IPPool\n  metadata: {name: a}\n"),
            Some(1),
            "has no kind",
        );
    }

    #[test]
    fn bad_items() {
        // Block items are streamed (the error names the item's line); flow items are read with
        // the whole document (the error names the document's first line).
        for stream in [true, false] {
            let file = |items: &[&str]| -> String {
                let body = if stream {
                    items.iter().map(|i| format!("- {i}\n")).collect::<String>()
                } else {
                    format!("  [{}]\n", items.join(", "))
                };
                one_pool_file(&format!("kind: IPPoolList\nitems:\n{body}"))
            };
            let good = "{kind: IPPool, metadata: {name: a}}";
            let line = if stream { Some(4) } else { Some(1) };
            for (item, error) in [
                (
                    "just text",
                    "item 2 of list document 1 is a string, not an object",
                ),
                (
                    "{metadata: {name: b}}",
                    "item 2 of list document 1 has no kind",
                ),
                (
                    "{kind: IPPool, metadata: {}}",
                    "item 2 of list document 1 (IPPool) has no metadata.name",
                ),
                (
                    "{kind: IPPool, metadata: {name: ''}}",
                    "has no metadata.name",
                ),
                ("{kind: IPPool}", "has no metadata.name"),
                ("{kind: '', metadata: {name: b}}", "has no kind"),
            ] {
                assert_error(&file(&[good, item]), line, error);
            }
        }
    }

    #[test]
    fn cluster_information_errors() {
        let lists = "kind: IPPoolList\n---\n";
        let empty = assert_error(
            &format!("{lists}===\n\n===\n{{}}\n"),
            Some(4),
            "the ClusterInformation JSON, is empty",
        );
        assert!(empty.message.contains("--allow-version-mismatch"));
        let bad = assert_error(
            &format!(
                "{lists}===\n{{\n  \"kind\": \"ClusterInformation\",\n  \"spec\": {{\n}}\n===\n{{}}\n"
            ),
            Some(8),
            "invalid JSON in the ClusterInformation part",
        );
        assert_eq!(bad.column, None, "the end of the part");
        let bad = assert_error(
            &format!(
                "{lists}===\n{{\n  \"kind\": \"ClusterInformation\",\n  \"spec\": {{]\n}}\n===\n{{}}\n"
            ),
            Some(6),
            "invalid JSON in the ClusterInformation part",
        );
        assert_eq!(bad.column, Some(12));
        assert_error(
            &format!("{lists}===\n{{\n  \"a\": 1,\n  \"b\" 2\n}}\n===\n{{}}\n"),
            Some(6),
            "invalid JSON",
        );
        assert_error(
            &format!("{lists}===\n[]\n===\n{{}}\n"),
            Some(4),
            "is a list, not a JSON object",
        );
        assert_error(
            &format!("{lists}===\n{{\"kind\": \"IPPool\"}}\n===\n{{}}\n"),
            Some(4),
            "not a ClusterInformation",
        );
        assert_error(
            &format!("{lists}===\n{{}} {{}}\n===\n{{}}\n"),
            Some(4),
            "trailing characters",
        );
    }

    #[test]
    fn ipam_errors() {
        let head = "kind: IPPoolList\n---\n===\n{}\n===\n";
        // Line 6 is the first line of the IPAM JSON.
        let cases: Vec<(String, usize, &str)> = vec![
            (String::new(), 6, "the IPAM JSON, is empty"),
            ("\n  \n".into(), 6, "the IPAM JSON, is empty"),
            ("{\n  \"blocks\": [\n".into(), 8, "ends early"),
            ("{\"blocks\": [}\n".into(), 6, "invalid IPAM JSON"),
            ("{\n  \"hosts\": []\n}\n".into(), 7, "unknown field \"hosts\""),
            ("{\"handles\": null, \"handles\": []}\n".into(), 6, "field \"handles\" appears twice"),
            ("[]\n".into(), 6, "expected the IPAM object"),
            ("{\"blocks\": {}}\n".into(), 6, "expected a list of blocks entries"),
            ("{\"handles\": [\n  {\"Value\": {}, \"TTL\": 0}\n]}\n".into(), 7, "handles entry 1 has no Key"),
            ("{\"handles\": [\n  {\"Key\": \"/calico/ipam/v2/handle/a\", \"Value\": {}},\n  {\"Key\": \"/calico/ipam/v2/handle/b\"}\n]}\n".into(), 8, "handles entry 2 (/calico/ipam/v2/handle/b) has no Value"),
            ("{\"handles\": [{\"Key\": \"/calico/ipam/v2/handle/a\", \"Value\": null}]}\n".into(), 6, "handles entry 1: Value is null, not a JSON object"),
            ("{\"handles\": [{\"Key\": \"/calico/ipam/v2/handle/a\", \"Value\": {}, \"Revision\": 5}]}\n".into(), 6, "unknown field \"Revision\""),
            ("{\"handles\": [{\"Key\": \"/calico/ipam/v2/handle/a\", \"Key\": \"/calico/ipam/v2/handle/a\"}]}\n".into(), 6, "Key appears twice"),
            ("{\"handles\": [{\"Key\": \"/calico/ipam/v2/handle/a\", \"Value\": {}, \"TTL\": \"0s\"}]}\n".into(), 6, "TTL is a string"),
            ("{\"handles\": [{\"Key\": \"/calico/ipam/v2/config\", \"Value\": {}}]}\n".into(), 6, "handles entry 1: \"/calico/ipam/v2/config\" is not an IPAM handle key"),
            ("{\"blocks\": [{\"Key\": \"/calico/ipam/v2/handle/x\", \"Value\": {}}]}\n".into(), 6, "blocks entry 1: \"/calico/ipam/v2/handle/x\" is not an IPAM block key"),
            ("{\"block_affinities\": [{\"Key\": \"/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26\", \"Value\": {}}]}\n".into(), 6, "is not a block affinity key"),
            ("{\"config\": {\"Key\": \"/calico/ipam/v2/host/a/ipv4/block/10.0.0.0-26\", \"Value\": {}}}\n".into(), 6, "the config entry: \"/calico/ipam/v2/host/a/ipv4/block/10.0.0.0-26\" is not the IPAM config key"),
            ("{\"config\": []}\n".into(), 6, "expected the config entry"),
            ("{}\n{}\n".into(), 7, "trailing characters"),
        ];
        for (ipam, line, needle) in cases {
            let error = assert_error(&format!("{head}{ipam}"), Some(line), needle);
            assert!(
                error.column.is_some() || ipam.trim().is_empty() || needle == "ends early",
                "{error}"
            );
        }
        // A file cut right after the separator has no line 6: the error is on the separator.
        assert_error(head.trim_end(), Some(5), "the IPAM JSON, is empty");
        // Valid odd forms: null sections, a config without TTL, entries from other versions.
        let text = format!(
            "{head}{{\"config\": null, \"blocks\": null, \"handles\": [{{\"Key\": \"/calico/ipam/v2/handle/a\", \"Value\": {{\"block\": {{}}, \"deleted\": false, \"newField\": [1]}}}}]}}\n"
        );
        let (file, summary) = read_both(&text);
        assert_eq!(
            file.ipam,
            vec![IpamEntry::new(
                IpamKind::Handle,
                "/calico/ipam/v2/handle/a",
                json!({"block": {}, "deleted": false, "newField": [1]})
            )]
        );
        assert_eq!(summary.ipam_total(), 1);
    }

    #[test]
    fn not_utf8() {
        let text = write(
            &[("IPPool", vec![pool("a")])],
            &json!({"kind": "ClusterInformation"}),
            &sample_ipam(),
        );
        let lines: Vec<&str> = text.lines().collect();
        for target in [
            3,
            lines
                .iter()
                .position(|l| l.contains("ClusterInformation"))
                .unwrap()
                + 1,
            lines.len() - 3,
        ] {
            let mut bytes = Vec::new();
            for (i, line) in lines.iter().enumerate() {
                bytes.extend_from_slice(line.as_bytes());
                if i + 1 == target {
                    bytes.extend_from_slice(b"\xC3(");
                }
                bytes.push(b'\n');
            }
            let error = match read_to_end_from(&bytes[..], NAME) {
                Err(ReadError::Format(error)) => error,
                other => panic!("{other:?}"),
            };
            assert_eq!(error.line, Some(target), "{error}");
            assert!(
                error.message.contains("not UTF-8 text (byte 0xC3"),
                "{error}"
            );
        }
        let utf16: Vec<u8> = "\u{feff}apiVersion: v1\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let error = read_to_end_from(&utf16[..], NAME).unwrap_err();
        assert!(error.to_string().contains("UTF-16"), "{error}");
    }

    #[test]
    fn what_is_not_an_export_file_says_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let check = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            match check_file(&path) {
                Err(ReadError::Format(error)) => error,
                other => panic!("{name}: {other:?}"),
            }
        };
        let not_a_file = match check_file(dir.path()) {
            Err(ReadError::Format(error)) => error,
            other => panic!("{other:?}"),
        };
        assert!(
            not_a_file.message.starts_with("is not a regular file"),
            "{not_a_file}"
        );
        assert!(peek_cluster_information(Path::new("/dev/zero")).is_none());
        let empty = check("empty", b"");
        assert_eq!(empty.line, None);
        assert!(empty.message.starts_with("the file is empty"), "{empty}");
        let gzip = check("gzip", b"\x1F\x8B\x08\x00\x00\x00\x00\x00\x00\x03\xED\xBD");
        assert_eq!(gzip.line, Some(1));
        assert!(gzip.message.contains("gzip-compressed"), "{gzip}");
        // Bytes that are not text are named by line before the parts are counted.
        let binary = check("binary", b"kind: IPPoolList\n\xC3(\n");
        assert_eq!(binary.line, Some(2));
        assert!(binary.message.contains("not UTF-8"), "{binary}");
        // A separator with blanks around it is named.
        for near in ["=== ", " ===", "===\t"] {
            let text = format!("kind: IPPoolList\n{near}\n{{}}\n===\n{{}}\n");
            let error = check("near", text.as_bytes());
            assert_eq!(error.line, Some(2), "{error}");
            assert!(error.message.starts_with("found 2 parts"), "{error}");
            assert!(
                error.message.contains("line 2 has blanks around"),
                "{error}"
            );
        }
    }

    #[test]
    fn long_lines_are_refused_in_the_yaml_and_the_cluster_information() {
        let long = "a".repeat(MAX_LINE + 10);
        let yaml = one_pool_file(&format!("kind: IPPoolList\nx: {long}\n"));
        assert_error(&yaml, Some(2), "the line is longer than 8 MiB");
        let info = format!("kind: IPPoolList\n---\n===\n{{\"x\": \"{long}\"}}\n===\n{{}}\n");
        assert_error(&info, Some(4), "the line is longer than 8 MiB");
    }

    #[test]
    fn the_ipam_json_may_be_one_long_line() {
        // Compact JSON longer than a line may be, with a character of four bytes across the
        // first two pieces it is read in.
        let ipam_of = |pad: usize| -> (Vec<IpamEntry>, String) {
            let entries: Vec<IpamEntry> = (0..MAX_LINE / 90)
                .map(|i| {
                    IpamEntry::new(
                        IpamKind::Handle,
                        format!("/calico/ipam/v2/handle/h{i}"),
                        json!({"block": {"10.0.0.0/26": 1}, "note": format!("{}😀😀😀", "a".repeat(if i == 0 { pad } else { 0 }))}),
                    )
                })
                .collect();
            let handles: Vec<Value> = entries
                .iter()
                .map(|e| json!({"Key": e.key, "Value": e.value, "TTL": 0}))
                .collect();
            let text = serde_json::to_string(&json!({"handles": handles})).unwrap();
            (entries, text)
        };
        let (_, unpadded) = ipam_of(0);
        let emoji = unpadded.as_bytes()[..MAX_LINE]
            .windows(4)
            .rposition(|w| w == "😀".as_bytes())
            .expect("characters before the boundary");
        let (entries, ipam) = ipam_of(MAX_LINE - 1 - emoji);
        assert!(!ipam.is_char_boundary(MAX_LINE));
        assert!(ipam.len() > MAX_LINE);
        let text = format!("kind: IPPoolList\n---\n===\n{{}}\n===\n{ipam}\n");
        let (file, summary) = read_both(&text);
        assert_eq!(file.ipam, entries);
        assert_eq!(summary.lines, 6);
        // One entry longer than the limit is refused.
        let huge = format!(
            "{{\"handles\": [{{\"Key\": \"/calico/ipam/v2/handle/h\", \"Value\": {{\"x\": \"{}\"}}, \"TTL\": 0}}]}}",
            "a".repeat(MAX_LINE + 10)
        );
        let text = format!("kind: IPPoolList\n---\n===\n{{}}\n===\n{huge}\n");
        assert_error(
            &text,
            Some(6),
            "an entry of the IPAM JSON is longer than 8 MiB",
        );
    }

    #[test]
    fn no_more_than_max_parsed_is_parsed_at_once() {
        let many = "  - 1\n".repeat(MAX_PARSED / 6 + 10);
        // A streamed item.
        let item = one_pool_file(&format!(
            "items:\n- kind: IPPool\n  metadata: {{name: a}}\n  spec:\n{many}kind: IPPoolList\n"
        ));
        let error = format_error(&item);
        assert!(
            error
                .message
                .contains("the item of list document 1 that starts at line 2 is longer than 8 MiB"),
            "{error}"
        );
        assert!(error.line.is_some_and(|l| l > MAX_PARSED / 7), "{error}");
        // A document read whole (items indented under their key).
        let whole = one_pool_file(&format!(
            "items:\n  - kind: IPPool\n    metadata: {{name: a}}\n    spec:\n  {many}kind: IPPoolList\n"
        ));
        let error = format_error(&whole);
        assert!(
            error
                .message
                .contains("list document 1 is longer than 8 MiB"),
            "{error}"
        );
        // Blank lines between `items:` and the first item count too.
        let blank = one_pool_file(&format!(
            "kind: IPPoolList\nitems:\n{}- kind: IPPool\n",
            "\n".repeat(MAX_PARSED + 10)
        ));
        let error = format_error(&blank);
        assert!(
            error
                .message
                .contains("list document 1 is longer than 8 MiB"),
            "{error}"
        );
        assert!(error.line.is_some_and(|l| l > MAX_PARSED / 2), "{error}");
    }

    #[test]
    fn callback_errors_pass_through_and_stop_reading() {
        let text = write(
            &sample_items(),
            &json!({"kind": "ClusterInformation"}),
            &sample_ipam(),
        );
        let total = events(&text, true).unwrap().0.len();
        for stream in [true, false] {
            for stop_at in 0..total {
                let mut seen = 0;
                let result = read_with(
                    text.as_bytes(),
                    NAME,
                    &mut |_event| {
                        seen += 1;
                        if seen == stop_at + 1 {
                            Err(format!("stop {stop_at}"))
                        } else {
                            Ok(())
                        }
                    },
                    stream,
                );
                match result {
                    Err(ReadError::Callback(message)) => {
                        assert_eq!(message, format!("stop {stop_at}"))
                    }
                    other => panic!("{other:?}"),
                }
                assert_eq!(seen, stop_at + 1, "no event after the failing one");
            }
        }
    }

    // -----------------------------------------------------------------------
    // Memory
    // -----------------------------------------------------------------------

    /// Writes a file of `policies` network policies and `handles` IPAM handles.
    fn write_large(path: &Path, policies: usize, handles: usize) {
        let out = io::BufWriter::new(File::create(path).unwrap());
        let mut writer = ExportWriter::new(out, false);
        writer.begin_list("NetworkPolicy").unwrap();
        for i in 0..policies {
            writer
                .item(&json!({
                    "apiVersion": "projectcalico.org/v3",
                    "kind": "NetworkPolicy",
                    "metadata": {"creationTimestamp": null, "labels": {"projectcalico.org/tier": "default"}, "name": format!("policy-{i}"), "namespace": format!("ns-{}", i % 100)},
                    "spec": {
                        "ingress": [{"action": "Allow", "source": {"selector": format!("app == 'client-{i}'")}, "destination": {"ports": [80, 443, "8000:9000"]}, "protocol": "TCP"}],
                        "egress": [{"action": "Allow", "destination": {"nets": ["10.0.0.0/8", "fd00::/8"]}}],
                        "selector": format!("app == 'server-{i}' && tier in {{'a', 'b', 'c'}} && environment == 'production' && !has(quarantine)"),
                        "tier": "default",
                        "types": ["Ingress", "Egress"],
                    },
                }))
                .unwrap();
        }
        writer.end_list(1).unwrap();
        writer
            .cluster_information(&json!({"kind": "ClusterInformation"}))
            .unwrap();
        for i in 0..handles {
            writer
                .ipam_entry(&IpamEntry::new(IpamKind::Handle,
                    format!("/calico/ipam/v2/handle/k8s-pod-network.{i:064x}"),
                    json!({"block": {format!("10.{}.{}.0/26", i / 65536 % 256, i / 256 % 256): 1}, "deleted": false}),
                ))
                .unwrap();
        }
        writer.finish().unwrap();
    }

    /// Peak resident memory of this process (VmHWM), in KiB.
    fn peak_rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    const MEMORY_FILE: &str = "EXPORT_READER_MEMORY_FILE";
    const MEMORY_WHOLE: &str = "EXPORT_READER_MEMORY_WHOLE";

    /// The child of the memory tests: reads the file named by the environment in a fresh
    /// process (with whole documents if asked, as a control) and prints its peak memory. Does
    /// nothing on its own.
    #[test]
    #[ignore = "run by the memory tests"]
    fn memory_child() {
        let Ok(path) = std::env::var(MEMORY_FILE) else {
            return;
        };
        let stream = std::env::var_os(MEMORY_WHOLE).is_none();
        let before = peak_rss_kib();
        let mut names = 0u64;
        let input = BufReader::new(File::open(&path).unwrap());
        let summary = read_with(
            input,
            &path,
            &mut |event| {
                if let Event::Object { object, .. } = &event {
                    names += object["metadata"]["name"]
                        .as_str()
                        .map_or(0, |n| n.len() as u64);
                }
                Ok::<(), Infallible>(())
            },
            stream,
        )
        .unwrap();
        println!(
            "MEMORY before={before} after={} objects={} handles={} names={names}",
            peak_rss_kib(),
            summary.objects,
            summary.ipam_count(IpamKind::Handle)
        );
    }

    /// Writes a file of `policies` policies and `handles` handles, reads it in a child process,
    /// checks the counts, and returns (file size, growth of peak RSS while reading), in KiB.
    fn measure(policies: usize, handles: usize, whole: bool) -> (u64, u64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large.txt");
        write_large(&path, policies, handles);
        let size_kib = std::fs::metadata(&path).unwrap().len() / 1024;
        let mut command = std::process::Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                "format::export_reader::tests::memory_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(MEMORY_FILE, &path);
        if whole {
            command.env(MEMORY_WHOLE, "1");
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The harness prints the test's name on the same line.
        let line = stdout
            .lines()
            .find_map(|l| l.find("MEMORY ").map(|at| &l[at..]))
            .expect("the child reports");
        let field = |name: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(field("objects"), policies as u64);
        assert_eq!(field("handles"), handles as u64);
        let growth = field("after").saturating_sub(field("before"));
        println!(
            "{} read: file {size_kib} KiB, peak RSS {} KiB, growth while reading {growth} KiB",
            if whole { "whole-document" } else { "streaming" },
            field("after")
        );
        (size_kib, growth)
    }

    /// A file eight times larger than another (13 MB against 1.6 MB) is read with the same
    /// memory (a fixed 2.5 MB or so in debug builds: buffers, one item, the allocator), while
    /// the control, the same policies read with whole documents, grows with the file.
    #[test]
    fn files_are_read_in_bounded_memory() {
        let (_, small) = measure(1_000, 4_000, false);
        let (size, large) = measure(8_000, 32_000, false);
        assert!(
            large < small + 1024,
            "memory grew with the file: {small} KiB, then {large} KiB for {size} KiB"
        );
        assert!(large < 8 * 1024, "reading grew memory by {large} KiB");
        let (_, whole) = measure(8_000, 0, true);
        assert!(
            whole > large + size / 4,
            "the control (whole documents: {whole} KiB) shows what is measured"
        );
    }

    /// The figure of the brief: 50,000 policies and 200,000 handles (about 80 MB).
    /// `cargo test --release --lib export_reader -- --ignored --nocapture`; measured: peak RSS
    /// about 5 MB, growth under 1 MB.
    #[test]
    #[ignore = "writes an 80 MB file; run with --release --ignored"]
    fn large_files_are_read_in_bounded_memory() {
        let (size, growth) = measure(50_000, 200_000, false);
        assert!(size > 50 * 1024, "the file is large: {size} KiB");
        assert!(
            growth < 16 * 1024,
            "reading grew memory by {growth} KiB for a {size} KiB file"
        );
    }
}
