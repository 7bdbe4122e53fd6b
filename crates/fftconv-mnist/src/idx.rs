//! A reader for the IDX files of MNIST, plain or gzipped, that checks every header field
//! against the file before allocating.

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::bufread::GzDecoder;

/// IDX magic number of unsigned-byte data with three dimensions (images).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic number of unsigned-byte data with one dimension (labels).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Largest payload accepted, far above the 47 MB of the full MNIST training images.
pub const MAX_PAYLOAD: u64 = 1 << 30;
/// The most a DEFLATE stream expands (about 1032:1): a gzip file claiming more is lying.
const MAX_DEFLATE_RATIO: u64 = 1032;

/// What is wrong with an IDX file. Every variant names the file (`path`).
#[derive(Debug)]
pub enum IdxError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: io::Error,
    },
    /// The magic number is not the expected one.
    Magic {
        /// The file.
        path: PathBuf,
        /// The magic number of the kind of file asked for.
        expected: u32,
        /// The magic number the file has.
        found: u32,
    },
    /// The header's dimensions describe more data than the file holds, or more than allowed.
    Size {
        /// The file.
        path: PathBuf,
        /// The dimensions in the header.
        dims: Vec<u32>,
        /// The bytes of data the dimensions describe; `None` past `u64::MAX`.
        payload: Option<u64>,
        /// What the file can hold, in words (its size, or the limit).
        available: String,
    },
    /// The file ends before the data its header promises.
    Truncated {
        /// The file.
        path: PathBuf,
        /// The bytes of data the header promises.
        expected: u64,
    },
    /// Bytes follow the data the header describes.
    TrailingData {
        /// The file.
        path: PathBuf,
    },
    /// The content is inconsistent: mismatched counts, a label out of range, ...
    Content {
        /// The file.
        path: PathBuf,
        /// What is inconsistent.
        message: String,
    },
}

impl fmt::Display for IdxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Magic {
                path,
                expected,
                found,
            } => write!(
                f,
                "{}: not an IDX file of the expected kind: magic number {found:#010x}, expected {expected:#010x}",
                path.display()
            ),
            Self::Size {
                path,
                dims,
                payload,
                available,
            } => {
                let payload = match payload {
                    Some(bytes) => format!("{bytes} bytes"),
                    None => "more than 2^64 bytes".into(),
                };
                write!(
                    f,
                    "{}: header claims dimensions {dims:?} ({payload} of data), but {available}",
                    path.display()
                )
            }
            Self::Truncated { path, expected } => write!(
                f,
                "{}: truncated: the header promises {expected} bytes of data",
                path.display()
            ),
            Self::TrailingData { path } => write!(
                f,
                "{}: corrupt: data continues past what the header describes",
                path.display()
            ),
            Self::Content { path, message } => write!(f, "{}: {message}", path.display()),
        }
    }
}

impl std::error::Error for IdxError {}

/// The decoded content of an IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions from the header.
    pub dims: Vec<usize>,
    /// The data, row-major.
    pub data: Vec<u8>,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> IdxError + '_ {
    move |source| IdxError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The uncompressed size recorded in a gzip trailer (modulo 2^32), and the compressed size.
fn gzip_sizes(path: &Path) -> Result<(u32, u64), IdxError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let len = file.metadata().map_err(io_error(path))?.len();
    if len < 18 {
        return Err(IdxError::Truncated {
            path: path.to_path_buf(),
            expected: 18,
        });
    }
    file.seek(SeekFrom::End(-4)).map_err(io_error(path))?;
    let mut trailer = [0u8; 4];
    file.read_exact(&mut trailer).map_err(io_error(path))?;
    Ok((u32::from_le_bytes(trailer), len))
}

/// Reads an IDX file of unsigned bytes with magic number `magic` (gzipped when the file
/// starts with the gzip signature).
pub fn read_idx(path: &Path, magic: u32) -> Result<IdxArray, IdxError> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let file_len = file.metadata().map_err(io_error(path))?.len();
    let mut signature = [0u8; 2];
    let gzipped =
        file.read(&mut signature).map_err(io_error(path))? == 2 && signature == [0x1f, 0x8b];
    file.seek(SeekFrom::Start(0)).map_err(io_error(path))?;
    let file = BufReader::new(file);
    if !gzipped {
        let mut reader = file;
        let array = read_content(&mut reader, path, magic, Container::Plain(file_len))?;
        return at_end(reader, path).map(|()| array);
    }
    let mut decoder = GzDecoder::new(file);
    let array = read_content(&mut decoder, path, magic, Container::Gzip)?;
    // Reading the member to its end checks its trailer; the decoder stops there, so anything
    // after it (a second member, say) is data the header does not describe.
    at_end(&mut decoder, path)?;
    at_end(decoder.into_inner(), path).map(|()| array)
}

/// How the IDX content is stored, for checking the header's size against the file.
enum Container {
    /// Uncompressed, in a file of this many bytes.
    Plain(u64),
    Gzip,
}

/// Fails with [`IdxError::TrailingData`] unless `reader` has nothing left.
fn at_end(mut reader: impl Read, path: &Path) -> Result<(), IdxError> {
    let mut extra = [0u8; 1];
    match reader.read(&mut extra).map_err(io_error(path))? {
        0 => Ok(()),
        _ => Err(IdxError::TrailingData {
            path: path.to_path_buf(),
        }),
    }
}

/// The header and data of an IDX file from `reader`, which holds the decoded content.
fn read_content(
    reader: &mut impl Read,
    path: &Path,
    magic: u32,
    container: Container,
) -> Result<IdxArray, IdxError> {
    let truncated = |_| IdxError::Truncated {
        path: path.to_path_buf(),
        expected: 4,
    };
    let mut word = [0u8; 4];
    reader.read_exact(&mut word).map_err(truncated)?;
    let found = u32::from_be_bytes(word);
    if found != magic {
        return Err(IdxError::Magic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    let rank = (magic & 0xff) as usize;
    let mut dims = Vec::with_capacity(rank);
    for _ in 0..rank {
        reader.read_exact(&mut word).map_err(truncated)?;
        dims.push(u32::from_be_bytes(word));
    }
    let header = 4 + 4 * rank as u64;
    let payload = dims
        .iter()
        .try_fold(1u64, |bytes, &d| bytes.checked_mul(u64::from(d)));
    let size_error = |available: String| IdxError::Size {
        path: path.to_path_buf(),
        dims: dims.clone(),
        payload,
        available,
    };
    let payload = match payload {
        Some(bytes) if bytes <= MAX_PAYLOAD => bytes,
        _ => {
            return Err(size_error(format!(
                "at most {MAX_PAYLOAD} bytes are accepted"
            )));
        }
    };
    match container {
        Container::Gzip => {
            let (recorded, compressed) = gzip_sizes(path)?;
            if (header + payload) as u32 != recorded {
                return Err(size_error(format!(
                    "the gzip trailer records {recorded} uncompressed bytes"
                )));
            }
            if payload > compressed.saturating_mul(MAX_DEFLATE_RATIO) {
                return Err(size_error(format!(
                    "the file has only {compressed} compressed bytes"
                )));
            }
        }
        Container::Plain(file_len) => {
            if header + payload != file_len {
                return Err(size_error(format!(
                    "the file holds {} bytes after the header",
                    file_len.saturating_sub(header)
                )));
            }
        }
    }

    let mut data = vec![0u8; payload as usize];
    reader.read_exact(&mut data).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => IdxError::Truncated {
            path: path.to_path_buf(),
            expected: payload,
        },
        _ => IdxError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    Ok(IdxArray {
        dims: dims.into_iter().map(|d| d as usize).collect(),
        data,
    })
}
