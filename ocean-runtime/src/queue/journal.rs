//! The event log of the durable queue: events are appended to segment files and a batch shares one
//! `fdatasync`; a processed event is removed by appending a tombstone (not waited for: a tombstone lost
//! in a crash means the event is processed again, never lost); a segment file is deleted once it and
//! every older segment hold no live event. An event costs one sequential write instead of a B-tree
//! insert and delete of its whole body.
//!
//! Frame: `len: u32` (of the body), `crc32: u32` (of kind, seq and body), `kind: u8` (1 event,
//! 2 removal), `seq: u64`, then the body; little endian. At start-up every frame is checked: a frame cut
//! short or failing its checksum at the end of the newest segment is a torn write and is cut off; the
//! same in an older segment is damage, reported, and what follows it in that segment is skipped.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tracing::error;

const HEADER: usize = 17;
const EVENT: u8 = 1;
const REMOVAL: u8 = 2;
/// A new segment is started past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// A frame longer than this is damage, not a record (bodies are bounded far below it at intake).
const MAX_BODY: usize = 1 << 30;

/// Where a live event's frame body is.
#[derive(Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    len: u32,
}

/// What readers share with the writer: where live events are, and the open segments.
#[derive(Default)]
pub(super) struct Shared {
    index: Mutex<HashMap<u64, Loc>>,
    files: RwLock<HashMap<u64, Arc<File>>>,
}

impl Shared {
    /// The body of a live event.
    pub(super) fn read(&self, seq: u64) -> Result<Vec<u8>, String> {
        let loc = *self.index.lock().unwrap_or_else(|p| p.into_inner()).get(&seq).ok_or("missing from the log")?;
        let file = self.files.read().unwrap_or_else(|p| p.into_inner()).get(&loc.segment).cloned();
        let file = file.ok_or("its segment is gone")?;
        let mut buf = vec![0; loc.len as usize];
        file.read_exact_at(&mut buf, loc.offset).map_err(|e| e.to_string())?;
        Ok(buf)
    }
}

/// The appending side, owned by the queue's writer thread.
pub(super) struct Journal {
    dir: PathBuf,
    active: Arc<File>,
    active_no: u64,
    active_len: u64,
    /// Live events per segment, oldest segment first.
    live: BTreeMap<u64, usize>,
    shared: Arc<Shared>,
    next_seq: u64,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:016}.log"))
}

fn frame(buf: &mut Vec<u8>, kind: u8, seq: u64, body: &[u8]) {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&seq.to_le_bytes());
    crc.update(body);
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc.finalize().to_le_bytes());
    buf.push(kind);
    buf.extend_from_slice(&seq.to_le_bytes());
    buf.extend_from_slice(body);
}

/// One frame read back.
struct Frame<'a> {
    kind: u8,
    seq: u64,
    /// Where its body starts in the segment.
    offset: usize,
    body: &'a [u8],
}

/// Live events read back at start-up: sequence number and record, oldest first.
pub(super) type Restored = Vec<(u64, Vec<u8>)>;

/// The frames of one segment, and the length of its valid prefix.
fn frames(bytes: &[u8]) -> (Vec<Frame<'_>>, usize) {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(h) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let (kind, seq) = (h[8], u64::from_le_bytes(h[9..17].try_into().unwrap_or_default()));
        let Some(body) = bytes.get(at + HEADER..at + HEADER + len).filter(|_| len <= MAX_BODY) else { break };
        if crc32fast::hash(&bytes[at + 8..at + HEADER + len]) != crc || !matches!(kind, EVENT | REMOVAL) {
            break;
        }
        out.push(Frame { kind, seq, offset: at + HEADER, body });
        at += HEADER + len;
    }
    (out, at)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens the log in `dir` (created if missing); returns it with the live events, oldest first.
    /// `removed` sees the body of every event still in the log whose removal is too (the queue reads
    /// their delivery ids back).
    pub(super) fn open(dir: &Path, mut removed_event: impl FnMut(&[u8])) -> std::io::Result<(Self, Restored)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<u64> = std::fs::read_dir(dir)?
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.strip_suffix(".log")?.parse().ok())
            .collect();
        numbers.sort_unstable();
        let shared = Arc::new(Shared::default());
        let mut events: BTreeMap<u64, (u64, usize, Vec<u8>)> = BTreeMap::new();
        let mut removed = Vec::new();
        let mut max_seq = 0;
        for (i, &no) in numbers.iter().enumerate() {
            let path = segment_path(dir, no);
            let bytes = std::fs::read(&path)?;
            let (found, valid) = frames(&bytes);
            if valid < bytes.len() {
                if i + 1 == numbers.len() {
                    // A torn write: the batch was never acknowledged.
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(valid as u64)?;
                    f.sync_all()?;
                } else {
                    error!(file = %path.display(), offset = valid, "damaged queue log segment: what follows the offset is skipped, the file is kept");
                }
            }
            for f in found {
                max_seq = max_seq.max(f.seq);
                match f.kind {
                    EVENT => {
                        events.insert(f.seq, (no, f.offset, f.body.to_vec()));
                    }
                    _ => removed.push(f.seq),
                }
            }
            shared.files.write().unwrap_or_else(|p| p.into_inner()).insert(no, Arc::new(File::open(&path)?));
        }
        for seq in removed {
            if let Some((_, _, body)) = events.remove(&seq) {
                removed_event(&body);
            }
        }
        let mut live: BTreeMap<u64, usize> = numbers.iter().map(|&n| (n, 0)).collect();
        let mut restored = Vec::with_capacity(events.len());
        {
            let mut index = shared.index.lock().unwrap_or_else(|p| p.into_inner());
            for (seq, (segment, offset, body)) in events {
                *live.entry(segment).or_default() += 1;
                index.insert(seq, Loc { segment, offset: offset as u64, len: body.len() as u32 });
                restored.push((seq, body));
            }
        }
        let active_no = numbers.last().map_or(1, |n| n + 1);
        let active = Self::create(dir, active_no, &shared)?;
        live.insert(active_no, 0);
        let journal = Self {
            dir: dir.to_owned(),
            active,
            active_no,
            active_len: 0,
            live,
            shared,
            next_seq: max_seq + 1,
            buf: Vec::new(),
        };
        Ok((journal, restored))
    }

    fn create(dir: &Path, no: u64, shared: &Shared) -> std::io::Result<Arc<File>> {
        let file = Arc::new(OpenOptions::new().create_new(true).read(true).append(true).open(segment_path(dir, no))?);
        sync_dir(dir)?;
        shared.files.write().unwrap_or_else(|p| p.into_inner()).insert(no, file.clone());
        Ok(file)
    }

    /// What readers use.
    pub(super) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Appends events and removals in one write; returns the events' sequence numbers once they are on
    /// disk (`fdatasync`). Removals alone are not waited for.
    pub(super) fn append(&mut self, events: &[&[u8]], removals: &[u64]) -> std::io::Result<Vec<u64>> {
        if self.active_len >= SEGMENT_BYTES {
            self.rotate()?;
        }
        self.buf.clear();
        let mut seqs = Vec::with_capacity(events.len());
        let mut locs = Vec::with_capacity(events.len());
        for body in events {
            let seq = self.next_seq;
            self.next_seq += 1;
            let offset = self.active_len + (self.buf.len() + HEADER) as u64;
            frame(&mut self.buf, EVENT, seq, body);
            seqs.push(seq);
            locs.push((seq, Loc { segment: self.active_no, offset, len: body.len() as u32 }));
        }
        for &seq in removals {
            frame(&mut self.buf, REMOVAL, seq, &[]);
        }
        if let Err(e) = (&*self.active)
            .write_all(&self.buf)
            .and_then(|()| if events.is_empty() { Ok(()) } else { self.active.sync_data() })
        {
            // What was written of a failed batch is cut off, so that a later batch is not appended after
            // a partial frame; the next start would cut it the same way.
            let _ = self.active.set_len(self.active_len);
            return Err(e);
        }
        self.active_len += self.buf.len() as u64;
        *self.live.entry(self.active_no).or_default() += locs.len();
        {
            let mut index = self.shared.index.lock().unwrap_or_else(|p| p.into_inner());
            index.extend(locs);
            for seq in removals {
                if let Some(loc) = index.remove(seq)
                    && let Some(n) = self.live.get_mut(&loc.segment)
                {
                    *n = n.saturating_sub(1);
                }
            }
        }
        Ok(seqs)
    }

    /// Starts a new segment; the old one's tombstones are made durable first.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.active.sync_data()?;
        let no = self.active_no + 1;
        self.active = Self::create(&self.dir, no, &self.shared)?;
        self.active_no = no;
        self.active_len = 0;
        self.live.insert(no, 0);
        Ok(())
    }

    /// Whether [`Journal::reclaim`] would delete a segment.
    pub(super) fn reclaimable(&self) -> bool {
        self.live.first_key_value().is_some_and(|(&no, &n)| n == 0 && no != self.active_no)
    }

    /// Deletes the oldest segments while they hold no live event (oldest first, so that a tombstone is
    /// never deleted before the event it removes).
    pub(super) fn reclaim(&mut self) {
        while let Some((&no, &n)) = self.live.first_key_value() {
            if n > 0 || no == self.active_no {
                break;
            }
            let path = segment_path(&self.dir, no);
            if let Err(e) = std::fs::remove_file(&path) {
                error!(file = %path.display(), error = %e, "cannot delete a processed queue log segment");
                break;
            }
            self.live.remove(&no);
            self.shared.files.write().unwrap_or_else(|p| p.into_inner()).remove(&no);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("ocean-journal-{:x}", rand::random::<u64>()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn bodies(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("{{\"event\": {i}, \"pad\": \"{}\"}}", "x".repeat(i * 7)).into_bytes()).collect()
    }

    #[test]
    fn a_torn_last_frame_is_cut_at_every_byte_and_every_complete_frame_is_kept() {
        let src = dir();
        let all = bodies(6);
        let (mut j, restored) = Journal::open(&src, |_| {}).unwrap();
        assert!(restored.is_empty());
        let first: Vec<&[u8]> = all[..5].iter().map(Vec::as_slice).collect();
        let seqs = j.append(&first, &[]).unwrap();
        j.append(&[], &[seqs[1]]).unwrap();
        j.append(&[&all[5]], &[]).unwrap();
        drop(j);
        let segment = segment_path(&src, 1);
        let bytes = std::fs::read(&segment).unwrap();
        let last = HEADER + all[5].len();
        let start = bytes.len() - last;
        for cut in start..=bytes.len() {
            let d = dir();
            std::fs::write(segment_path(&d, 1), &bytes[..cut]).unwrap();
            let mut gone = Vec::new();
            let (mut j, restored) = Journal::open(&d, |b| gone.push(b.to_vec())).unwrap();
            assert_eq!(gone, [all[1].clone()], "the removed event is reported, and only it");
            let got: Vec<&[u8]> = restored.iter().map(|(_, b)| b.as_slice()).collect();
            let mut want: Vec<&[u8]> = vec![&all[0], &all[2], &all[3], &all[4]];
            if cut == bytes.len() {
                want.push(&all[5]);
            }
            assert_eq!(got, want, "cut at {cut} of {}", bytes.len());
            // The torn tail is gone from the file, and the log goes on after it.
            assert_eq!(
                std::fs::metadata(segment_path(&d, 1)).unwrap().len() as usize,
                if cut == bytes.len() { cut } else { start }
            );
            let s = j.append(&[b"after"], &[]).unwrap();
            assert_eq!(j.shared().read(s[0]).unwrap(), b"after");
            drop(j);
            let (_, again) = Journal::open(&d, |_| {}).unwrap();
            assert_eq!(again.last().unwrap().1, b"after");
            assert_eq!(again.len(), want.len() + 1);
            std::fs::remove_dir_all(d).ok();
        }
        std::fs::remove_dir_all(src).ok();
    }

    #[test]
    fn a_damaged_frame_fails_its_checksum_and_processed_segments_are_deleted() {
        let d = dir();
        let all = bodies(3);
        let (mut j, _) = Journal::open(&d, |_| {}).unwrap();
        let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
        let seqs = j.append(&refs, &[]).unwrap();
        drop(j);
        // A flipped byte in the last body: that frame is torn (the newest segment), the others kept.
        let seg = segment_path(&d, 1);
        let mut bytes = std::fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 0x20;
        std::fs::write(&seg, &bytes).unwrap();
        let (mut j, restored) = Journal::open(&d, |_| {}).unwrap();
        assert_eq!(restored.iter().map(|(s, _)| *s).collect::<Vec<_>>(), seqs[..2]);
        // Removing every live event deletes the old segment; the active one stays.
        j.append(&[], &seqs[..2]).unwrap();
        assert!(j.reclaimable());
        j.reclaim();
        assert!(!seg.exists(), "a segment with no live event is deleted");
        assert!(segment_path(&d, 2).exists());
        drop(j);
        let (_, restored) = Journal::open(&d, |_| {}).unwrap();
        assert!(restored.is_empty());
        std::fs::remove_dir_all(d).ok();
    }
}
