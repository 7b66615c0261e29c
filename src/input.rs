//! Files the user names (kubeconfigs, manifests, node maps, TLS files), read with a bound: a
//! device such as /dev/zero, or a file far larger than any of its kind, is refused instead of
//! filling memory. Export files have their own streaming reader (`format::export_reader`).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The most such a file may hold; Calico's largest manifest is well under 1 MiB.
pub const MAX_INPUT: u64 = 64 << 20;

fn too_large() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "it is longer than {} MiB, more than any file of its kind: is it the right file?",
            MAX_INPUT >> 20
        ),
    )
}

/// All of a file, unless it is longer than [`MAX_INPUT`].
pub fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    File::open(path)?
        .take(MAX_INPUT + 1)
        .read_to_end(&mut data)?;
    if data.len() as u64 > MAX_INPUT {
        return Err(too_large());
    }
    Ok(data)
}

/// All of a file as text, unless it is longer than [`MAX_INPUT`] or not UTF-8.
pub fn read_to_string(path: &Path) -> io::Result<String> {
    String::from_utf8(read(path)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "it is not UTF-8 text"))
}

/// Fails when a file that a library is about to read whole is longer than [`MAX_INPUT`]
/// (it is read in pieces here, and not kept).
pub fn check_size(path: &Path) -> io::Result<()> {
    let length = io::copy(&mut File::open(path)?.take(MAX_INPUT + 1), &mut io::sink())?;
    if length > MAX_INPUT {
        return Err(too_large());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endless_files_are_refused() {
        let error = read(Path::new("/dev/zero")).unwrap_err();
        assert!(error.to_string().contains("longer than 64 MiB"), "{error}");
        assert!(check_size(Path::new("/dev/zero")).is_err());
        assert!(read(Path::new("/dev/null")).unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1");
        std::fs::write(&path, b"caf\xe9").unwrap();
        let error = read_to_string(&path).unwrap_err();
        assert_eq!(error.to_string(), "it is not UTF-8 text");
        std::fs::write(&path, "ok").unwrap();
        assert_eq!(read_to_string(&path).unwrap(), "ok");
        check_size(&path).unwrap();
    }
}
