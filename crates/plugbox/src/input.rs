//! Reading untrusted inputs (modules, manifests, stdin files): size-capped
//! while reading, and never blocking on a file that is not a regular file.

use crate::error::{Error, ErrorKind, InvalidReason};
use std::io::Read;
use std::path::Path;

const CHUNK: usize = 64 << 10;

/// What went wrong reading an input, before the caller names it.
pub(crate) enum ReadError {
    /// More than `cap` bytes (at least `size` seen).
    TooLarge { size: u64, cap: u64 },
    /// A directory, FIFO, socket or device: refused.
    NotRegular { directory: bool },
    /// The read itself failed.
    Io(std::io::Error),
}

impl ReadError {
    /// The error of reading module `name`: an oversize input is an invalid
    /// module, anything else is I/O.
    pub(crate) fn for_module(self, name: &str) -> Error {
        match self {
            Self::TooLarge { size, cap } => too_large(name, size, cap),
            Self::NotRegular { directory } => not_regular(&format!("`{name}`"), directory),
            Self::Io(e) => Error::io(format!("cannot read `{name}`"), e),
        }
    }

    /// The error of reading a configuration input; `what` names it
    /// (``manifest `x.toml` ``).
    pub(crate) fn for_config(self, what: &str) -> Error {
        match self {
            Self::TooLarge { size, cap } => Error::config(format!(
                "{what} is larger than {} (at least {size} bytes)",
                crate::units::format_bytes(cap)
            )),
            Self::NotRegular { directory } => not_regular(what, directory),
            Self::Io(e) => Error::io(format!("cannot read {what}"), e),
        }
    }
}

fn not_regular(what: &str, directory: bool) -> Error {
    let why = if directory {
        "is a directory"
    } else {
        "not a regular file (a pipe, socket or device could block or never end)"
    };
    Error::new(ErrorKind::Io, format!("cannot read {what}: {why}"))
}

/// The error of a module over the size cap.
pub(crate) fn too_large(name: &str, size: u64, limit: u64) -> Error {
    Error::new(
        ErrorKind::InvalidModule(InvalidReason::TooLarge { size, limit }),
        format!(
            "invalid module `{name}`: larger than the size cap of {} ({}{} bytes)",
            crate::units::format_bytes(limit),
            if size > limit { "at least " } else { "" },
            size
        ),
    )
}

/// Opens `path` for reading without blocking (a FIFO with no writer would
/// block `open` forever) and checks that it is a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, ReadError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // O_NONBLOCK: opening a FIFO returns at once instead of waiting for
        // a writer; it has no effect on reads of a regular file.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(ReadError::Io)?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular {
            directory: meta.is_dir(),
        });
    }
    Ok(file)
}

/// Reads a regular file, refusing it when it is (or grows) larger than
/// `cap` bytes.
pub(crate) fn read_file(path: &Path, cap: Option<u64>) -> Result<Vec<u8>, ReadError> {
    let file = open_sized(path, cap)?;
    read_opened(file, cap)
}

/// Opens a regular file no larger than `cap` bytes.
pub(crate) fn open_sized(path: &Path, cap: Option<u64>) -> Result<std::fs::File, ReadError> {
    let file = open_regular(path)?;
    if let (Some(cap), Ok(meta)) = (cap, file.metadata())
        && meta.len() > cap
    {
        return Err(ReadError::TooLarge {
            size: meta.len(),
            cap,
        });
    }
    Ok(file)
}

/// Reads an opened regular file in one pass, sized by its length, still
/// refusing it if it grew past `cap` meanwhile.
pub(crate) fn read_opened(file: std::fs::File, cap: Option<u64>) -> Result<Vec<u8>, ReadError> {
    read_opened_with(file, cap, |_| {})
}

/// [`read_opened`], handing `each` every part of the file as it lands
/// (while it is still in the CPU's cache: to hash it, say).
pub(crate) fn read_opened_with(
    file: std::fs::File,
    cap: Option<u64>,
    mut each: impl FnMut(&[u8]),
) -> Result<Vec<u8>, ReadError> {
    const PART: u64 = 256 << 10;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let limit = cap.map_or(u64::MAX, |c| c.saturating_add(1));
    let mut bytes = Vec::with_capacity(usize::try_from(len.min(limit)).unwrap_or(0));
    let mut reader = file.take(limit);
    loop {
        let start = bytes.len();
        let n = (&mut reader)
            .take(PART)
            .read_to_end(&mut bytes)
            .map_err(ReadError::Io)?;
        if n == 0 {
            break;
        }
        each(&bytes[start..]);
    }
    if let Some(cap) = cap
        && bytes.len() as u64 > cap
    {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
            cap,
        });
    }
    Ok(bytes)
}

/// Reads `reader` to the end in chunks, stopping as soon as more than `cap`
/// bytes have arrived, handing `each` every chunk as it lands.
pub(crate) fn read_capped(
    mut reader: impl Read,
    cap: Option<u64>,
    mut each: impl FnMut(&[u8]),
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(bytes),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        let size = bytes.len() as u64 + n as u64;
        if let Some(cap) = cap
            && size > cap
        {
            return Err(ReadError::TooLarge { size, cap });
        }
        each(&chunk[..n]);
        bytes.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_in_parts_hands_over_every_byte_once() {
        let dir = tempfile::tempdir().unwrap();
        let part = 256 << 10;
        for len in [0, 1, part - 1, part, part + 1, 3 * part] {
            let path = dir.path().join(format!("f{len}"));
            let bytes: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            std::fs::write(&path, &bytes).unwrap();
            let mut seen = Vec::new();
            let read = read_opened_with(std::fs::File::open(&path).unwrap(), None, |p| {
                assert!(!p.is_empty(), "{len}: no empty part");
                seen.extend_from_slice(p);
            });
            assert_eq!(read.ok().as_deref(), Some(&bytes[..]), "{len} bytes");
            assert_eq!(seen, bytes, "{len} bytes");
        }
        // Past the cap: refused, however the parts fall.
        let path = dir.path().join(format!("f{}", 3 * part));
        let err = read_opened_with(
            std::fs::File::open(&path).unwrap(),
            Some(part as u64),
            |_| {},
        );
        assert!(matches!(err, Err(ReadError::TooLarge { .. })));
    }
}
