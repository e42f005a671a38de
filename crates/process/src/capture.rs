//! Bounded output capture: the head and tail kept for the staging log, the
//! middle counted, and the whole stream (capped) written to the sidecar file
//! as it arrives.
//!
//! Memory is fixed at `head_bytes + tail_bytes` whatever the suite prints.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::limits::OutputLimits;
use crate::outcome::{CapturedOutput, CapturedStdout, Sidecar};

/// Collects a stream into head, tail ring and sidecar.
#[derive(Debug)]
pub(crate) struct Capture {
    head: Vec<u8>,
    head_cap: usize,
    tail: TailRing,
    total: u64,
    sidecar: SidecarWriter,
}

impl Capture {
    /// A capture with these limits, writing to `sidecar` when given. A sidecar
    /// that cannot be created is recorded, not fatal.
    pub(crate) fn new(limits: OutputLimits, sidecar: Option<&Path>) -> Capture {
        Capture {
            head: Vec::with_capacity(limits.head_bytes.min(64 * 1024)),
            head_cap: limits.head_bytes,
            tail: TailRing::new(limits.tail_bytes),
            total: 0,
            sidecar: SidecarWriter::open(sidecar, limits.sidecar_cap),
        }
    }

    /// Takes the next chunk of the stream.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);
        self.sidecar.write(chunk);
        let room = self.head_cap.saturating_sub(self.head.len());
        let (to_head, rest) = chunk.split_at(room.min(chunk.len()));
        self.head.extend_from_slice(to_head);
        self.tail.push(rest);
    }

    /// Ends the capture.
    pub(crate) fn finish(self) -> CapturedOutput {
        let tail = self.tail.to_vec();
        let kept = (self.head.len() + tail.len()) as u64;
        CapturedOutput {
            omitted_bytes: self.total.saturating_sub(kept),
            head: self.head,
            tail,
            total_bytes: self.total,
            sidecar: self.sidecar.finish(self.total),
        }
    }
}

/// Stdout kept whole up to a cap, the rest counted.
#[derive(Debug)]
pub(crate) struct StdoutCapture {
    bytes: Vec<u8>,
    cap: usize,
    total: u64,
}

impl StdoutCapture {
    pub(crate) fn new(cap: usize) -> StdoutCapture {
        StdoutCapture {
            bytes: Vec::new(),
            cap,
            total: 0,
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len() as u64);
        let room = self.cap.saturating_sub(self.bytes.len());
        self.bytes
            .extend_from_slice(&chunk[..room.min(chunk.len())]);
    }

    pub(crate) fn finish(self) -> CapturedStdout {
        CapturedStdout {
            bytes: self.bytes,
            total_bytes: self.total,
        }
    }
}

/// The last `cap` bytes of a stream, in a fixed buffer.
#[derive(Debug)]
struct TailRing {
    buf: Vec<u8>,
    cap: usize,
    /// Index of the oldest byte once the buffer is full.
    start: usize,
}

impl TailRing {
    fn new(cap: usize) -> TailRing {
        TailRing {
            buf: Vec::new(),
            cap,
            start: 0,
        }
    }

    fn push(&mut self, mut bytes: &[u8]) {
        if self.cap == 0 || bytes.is_empty() {
            return;
        }
        if bytes.len() >= self.cap {
            bytes = &bytes[bytes.len() - self.cap..];
            self.buf.clear();
            self.buf.extend_from_slice(bytes);
            self.start = 0;
            return;
        }
        // Fill up to the cap first; the buffer grows only while filling.
        let room = self.cap - self.buf.len();
        if room > 0 {
            let (fill, rest) = bytes.split_at(room.min(bytes.len()));
            self.buf.extend_from_slice(fill);
            bytes = rest;
        }
        // Full: overwrite the oldest bytes, wrapping around.
        while !bytes.is_empty() {
            let run = (self.cap - self.start).min(bytes.len());
            self.buf[self.start..self.start + run].copy_from_slice(&bytes[..run]);
            self.start = (self.start + run) % self.cap;
            bytes = &bytes[run..];
        }
    }

    fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.len());
        out.extend_from_slice(&self.buf[self.start..]);
        out.extend_from_slice(&self.buf[..self.start]);
        out
    }
}

/// Creates `path` anew, never through a link: whatever is there (a previous
/// run's file, or a link planted to redirect our writes) is removed first,
/// then the file is created with `O_CREAT | O_EXCL | O_NOFOLLOW`, so a link
/// planted in between makes the creation fail instead of being followed.
fn create_fresh(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// The sidecar file: written as the stream arrives, cut at the cap.
#[derive(Debug)]
enum SidecarWriter {
    Disabled,
    Open {
        file: File,
        path: PathBuf,
        written: u64,
        cap: u64,
        cut: bool,
    },
    Failed {
        path: PathBuf,
        error: String,
    },
}

impl SidecarWriter {
    fn open(path: Option<&Path>, cap: u64) -> SidecarWriter {
        let Some(path) = path else {
            return SidecarWriter::Disabled;
        };
        match create_fresh(path) {
            Ok(file) => SidecarWriter::Open {
                file,
                path: path.to_path_buf(),
                written: 0,
                cap,
                cut: false,
            },
            Err(error) => SidecarWriter::Failed {
                path: path.to_path_buf(),
                error: format!(
                    "cannot create the output file: {error}; check that its folder exists and is writable"
                ),
            },
        }
    }

    fn write(&mut self, chunk: &[u8]) {
        let SidecarWriter::Open {
            file,
            path,
            written,
            cap,
            cut,
        } = self
        else {
            return;
        };
        if *cut {
            return;
        }
        let room = usize::try_from(cap.saturating_sub(*written)).unwrap_or(usize::MAX);
        let part = &chunk[..room.min(chunk.len())];
        let mut result = file.write_all(part);
        *written += part.len() as u64;
        if result.is_ok() && part.len() < chunk.len() {
            *cut = true;
            result = write!(
                file,
                "\n[orch-staging-runner: output cut here at {cap} bytes; the rest is counted in the staging log, not kept]\n"
            );
        }
        if let Err(error) = result {
            *self = SidecarWriter::Failed {
                path: path.clone(),
                error: format!("cannot write the output file: {error}; check free disk space"),
            };
        }
    }

    fn finish(self, total: u64) -> Sidecar {
        match self {
            SidecarWriter::Disabled => Sidecar::Disabled,
            SidecarWriter::Failed { path, error } => Sidecar::Failed { path, error },
            SidecarWriter::Open {
                mut file,
                path,
                written,
                cut,
                ..
            } => {
                let note = if cut {
                    writeln!(
                        file,
                        "[orch-staging-runner: the suite printed {total} bytes in total]"
                    )
                } else {
                    Ok(())
                };
                match note {
                    Ok(()) => Sidecar::Written {
                        path,
                        bytes: written,
                        cut,
                    },
                    Err(error) => Sidecar::Failed {
                        path,
                        error: format!(
                            "cannot write the output file: {error}; check free disk space"
                        ),
                    },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(head: usize, tail: usize, cap: u64) -> OutputLimits {
        OutputLimits {
            head_bytes: head,
            tail_bytes: tail,
            sidecar_cap: cap,
        }
    }

    #[test]
    fn small_output_is_kept_whole() {
        let mut capture = Capture::new(limits(4, 8, 100), None);
        capture.push(b"abc");
        capture.push(b"defgh");
        let out = capture.finish();
        assert_eq!(out.head, b"abcd");
        assert_eq!(out.tail, b"efgh");
        assert_eq!(out.total_bytes, 8);
        assert_eq!(out.omitted_bytes, 0);
    }

    #[test]
    fn the_middle_is_counted_not_kept() {
        let mut capture = Capture::new(limits(3, 4, 100), None);
        for chunk in [&b"0123"[..], b"45", b"6789a", b"b", b"cdefghij"] {
            capture.push(chunk);
        }
        let out = capture.finish();
        assert_eq!(out.head, b"012");
        assert_eq!(out.tail, b"ghij");
        assert_eq!(out.total_bytes, 20);
        assert_eq!(out.omitted_bytes, 13);
    }

    #[test]
    fn ring_wraps_in_small_steps() {
        let mut ring = TailRing::new(5);
        for byte in b"abcdefghijklm" {
            ring.push(&[*byte]);
        }
        assert_eq!(ring.to_vec(), b"ijklm");
        ring.push(b"no");
        assert_eq!(ring.to_vec(), b"klmno");
    }

    #[test]
    fn sidecar_is_cut_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let mut capture = Capture::new(limits(2, 2, 5), Some(&path));
        capture.push(b"abc");
        capture.push(b"defg");
        let out = capture.finish();
        assert_eq!(
            out.sidecar,
            Sidecar::Written {
                path: path.clone(),
                bytes: 5,
                cut: true
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("abcde\n[orch-staging-runner: output cut here at 5 bytes"));
        assert!(text.ends_with("printed 7 bytes in total]\n"));
    }

    #[test]
    fn a_planted_link_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("out.log");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let mut capture = Capture::new(limits(2, 2, 100), Some(&path));
        capture.push(b"suite output");
        assert!(matches!(capture.finish().sidecar, Sidecar::Written { .. }));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "suite output");
    }

    #[test]
    fn stdout_is_kept_whole_up_to_its_cap() {
        let mut stdout = StdoutCapture::new(5);
        stdout.push(b"abc");
        stdout.push(b"defg");
        let out = stdout.finish();
        assert_eq!(out.bytes, b"abcde");
        assert_eq!(out.total_bytes, 7);
        assert!(out.truncated());
    }

    #[test]
    fn an_unwritable_sidecar_is_recorded_not_fatal() {
        let mut capture = Capture::new(limits(2, 2, 5), Some(Path::new("/nonexistent/dir/x")));
        capture.push(b"abc");
        let out = capture.finish();
        assert_eq!(out.last_line(), "abc");
        assert!(matches!(out.sidecar, Sidecar::Failed { .. }));
        assert_eq!(out.total_bytes, 3);
    }
}
