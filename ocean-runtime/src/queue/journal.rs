//! The event log of the durable queue: events are appended to segment files and a batch shares one
//! `fdatasync`; a processed event is removed by appending a tombstone (not waited for: a tombstone lost
//! in a crash means the event is processed again, never lost); a segment file is recycled (or deleted)
//! once it and every older segment hold no live event. An event costs one sequential write instead of a
//! B-tree insert and delete of its whole body.
//!
//! Frame: `len: u32` (of the body), `crc32: u32` (of the segment's number, kind, seq and body),
//! `kind: u8` (1 event, 2 removal, 3 end of segment), `seq: u64`, then the body; little endian.
//!
//! Recycling: a processed segment becomes a spare file, and a new segment is a spare renamed and
//! written over from its start. Writing over allocated blocks, without changing the file's size, lets
//! `fdatasync` flush the data alone, without a journal commit of the file system's metadata: on this
//! kind of machine that costs about a third less time and CPU per batch. What the file still holds from
//! its previous life fails the checksum, which covers the segment's number.
//!
//! At start-up every frame is checked: a frame cut short or failing its checksum at the end of the
//! newest segment is a torn write and is cut off; an older segment ends at its end frame (what follows
//! is its previous life); a bad frame before it is damage, reported, and what follows it in that segment
//! is skipped. Segments of the first format (`.log`, checksum without the segment's number) are read
//! the same way, and written no more.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tracing::error;

const HEADER: usize = 17;
const EVENT: u8 = 1;
const REMOVAL: u8 = 2;
/// The last frame of a segment that the log moved on from.
const END: u8 = 3;
/// Processed segments kept to be written over (each a segment's size on disk).
const SPARES: usize = 2;
/// The extension of segments of this format, and of the first one (read, not written).
const SEGMENT_EXT: &str = "seg";
const LEGACY_EXT: &str = "log";
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
    /// Segments of the first format still in the log.
    legacy: HashSet<u64>,
    /// Processed segment files to write new segments over.
    spares: Vec<PathBuf>,
    segment_bytes: u64,
    shared: Arc<Shared>,
    next_seq: u64,
    buf: Vec<u8>,
}

fn segment_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:016}.{SEGMENT_EXT}"))
}

fn legacy_path(dir: &Path, no: u64) -> PathBuf {
    dir.join(format!("{no:016}.{LEGACY_EXT}"))
}

/// The number a spare file had as a segment.
fn spare_number(path: &Path) -> Option<u64> {
    path.file_name()?.to_str()?.strip_prefix("spare-")?.parse().ok()
}

/// The checksum of a frame of segment `segment` (`None`: the first format's, without it) from its kind
/// on (kind, seq, body).
fn checksum(segment: Option<u64>, from_kind: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    if let Some(no) = segment {
        crc.update(&no.to_le_bytes());
    }
    for part in from_kind {
        crc.update(part);
    }
    crc.finalize()
}

/// Appends a frame of segment `segment` (`None`: of the first format, which tests write) to `buf`.
fn frame(buf: &mut Vec<u8>, segment: Option<u64>, kind: u8, seq: u64, body: &[u8]) {
    let crc = checksum(segment, &[&[kind], &seq.to_le_bytes(), body]);
    buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc.to_le_bytes());
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

/// What one segment holds.
struct Frames<'a> {
    frames: Vec<Frame<'a>>,
    /// The length of its valid prefix.
    valid: usize,
    /// It ends with an end frame: what follows is not part of it.
    ended: bool,
}

/// The frames of segment `segment` (`None`: of the first format).
fn frames(bytes: &[u8], segment: Option<u64>) -> Frames<'_> {
    let mut out = Frames { frames: Vec::new(), valid: 0, ended: false };
    let mut at = 0;
    while let Some(h) = bytes.get(at..at + HEADER) {
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let (kind, seq) = (h[8], u64::from_le_bytes(h[9..17].try_into().unwrap_or_default()));
        let Some(body) = bytes.get(at + HEADER..at + HEADER + len).filter(|_| len <= MAX_BODY) else { break };
        let known = matches!(kind, EVENT | REMOVAL) || kind == END && segment.is_some();
        if !known || checksum(segment, &[&bytes[at + 8..at + HEADER + len]]) != crc {
            break;
        }
        at += HEADER + len;
        out.valid = at;
        if kind == END {
            out.ended = true;
            break;
        }
        out.frames.push(Frame { kind, seq, offset: at - len, body });
    }
    out
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Journal {
    /// Opens the log in `dir` (created if missing), with segments of `segment_bytes`; returns it with
    /// the live events, oldest first. `removed` sees the body of every event still in the log whose
    /// removal is too (the queue reads their delivery ids back).
    pub(super) fn open(
        dir: &Path,
        segment_bytes: u64,
        mut removed_event: impl FnMut(&[u8]),
    ) -> std::io::Result<(Self, Restored)> {
        std::fs::create_dir_all(dir)?;
        let mut numbers: Vec<(u64, bool)> = Vec::new();
        let mut spares = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if spare_number(&entry.path()).is_some() {
                spares.push(entry.path());
            } else if let Some((no, ext)) = name.split_once('.')
                && let Ok(no) = no.parse::<u64>()
                && (ext == SEGMENT_EXT || ext == LEGACY_EXT)
            {
                numbers.push((no, ext == LEGACY_EXT));
            }
        }
        numbers.sort_unstable();
        spares.sort();
        for extra in spares.split_off(spares.len().min(SPARES)) {
            let _ = std::fs::remove_file(extra);
        }
        let shared = Arc::new(Shared::default());
        let mut events: BTreeMap<u64, (u64, usize, Vec<u8>)> = BTreeMap::new();
        let mut removed = Vec::new();
        let mut max_seq = 0;
        for (i, &(no, legacy)) in numbers.iter().enumerate() {
            let path = if legacy { legacy_path(dir, no) } else { segment_path(dir, no) };
            let bytes = std::fs::read(&path)?;
            let found = frames(&bytes, (!legacy).then_some(no));
            if found.valid < bytes.len() {
                if i + 1 == numbers.len() {
                    // A torn write (the batch was never acknowledged), or a recycled file's previous life.
                    let f = OpenOptions::new().write(true).open(&path)?;
                    f.set_len(found.valid as u64)?;
                    f.sync_all()?;
                } else if !found.ended {
                    error!(file = %path.display(), offset = found.valid, "damaged queue log segment: what follows the offset is skipped, the file is kept");
                }
            }
            for f in found.frames {
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
        let mut live: BTreeMap<u64, usize> = numbers.iter().map(|&(n, _)| (n, 0)).collect();
        let mut restored = Vec::with_capacity(events.len());
        {
            let mut index = shared.index.lock().unwrap_or_else(|p| p.into_inner());
            for (seq, (segment, offset, body)) in events {
                *live.entry(segment).or_default() += 1;
                index.insert(seq, Loc { segment, offset: offset as u64, len: body.len() as u32 });
                restored.push((seq, body));
            }
        }
        // Past every number a file was given, spares included: what a spare still holds of its earlier
        // lives has numbers up to its own, and must never pass the checksum of a new segment.
        let spare_max = spares.iter().filter_map(|p| spare_number(p)).max();
        let active_no = numbers.last().map(|(n, _)| *n).max(spare_max).map_or(1, |n| n + 1);
        let active = Self::create(dir, active_no, &shared, &mut spares)?;
        live.insert(active_no, 0);
        let journal = Self {
            dir: dir.to_owned(),
            active,
            active_no,
            active_len: 0,
            live,
            legacy: numbers.iter().filter(|(_, legacy)| *legacy).map(|(n, _)| *n).collect(),
            spares,
            segment_bytes,
            shared,
            next_seq: max_seq + 1,
            buf: Vec::new(),
        };
        Ok((journal, restored))
    }

    /// Segment `no`: a spare written over when there is one, else a new file.
    fn create(dir: &Path, no: u64, shared: &Shared, spares: &mut Vec<PathBuf>) -> std::io::Result<Arc<File>> {
        let path = segment_path(dir, no);
        if let Some(spare) = spares.pop()
            && let Err(e) = std::fs::rename(&spare, &path)
        {
            error!(file = %spare.display(), error = %e, "cannot reuse a processed queue log segment; deleting it");
            let _ = std::fs::remove_file(&spare);
        }
        // Not `create_new`: after a failed attempt, the file may be there already (a spare renamed, or
        // created empty); nothing in it passes the checksum of this segment's number, never used before.
        let file = Arc::new(OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path)?);
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
        if self.active_len >= self.segment_bytes {
            self.rotate()?;
        }
        self.buf.clear();
        let mut seqs = Vec::with_capacity(events.len());
        let mut locs = Vec::with_capacity(events.len());
        let no = Some(self.active_no);
        for body in events {
            let seq = self.next_seq;
            self.next_seq += 1;
            let offset = self.active_len + (self.buf.len() + HEADER) as u64;
            frame(&mut self.buf, no, EVENT, seq, body);
            seqs.push(seq);
            locs.push((seq, Loc { segment: self.active_no, offset, len: body.len() as u32 }));
        }
        for &seq in removals {
            frame(&mut self.buf, no, REMOVAL, seq, &[]);
        }
        if let Err(e) = self
            .active
            .write_all_at(&self.buf, self.active_len)
            .and_then(|()| if events.is_empty() { Ok(()) } else { self.active.sync_data() })
        {
            // What was written of a failed batch is cut off, so that a later batch is not followed by
            // frames of it; the next start would cut it the same way.
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

    /// Starts a new segment; the old one gets its end frame, and its tombstones are made durable first.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.buf.clear();
        frame(&mut self.buf, Some(self.active_no), END, 0, &[]);
        self.active.write_all_at(&self.buf, self.active_len)?;
        self.active.sync_data()?;
        let no = self.active_no + 1;
        self.active = Self::create(&self.dir, no, &self.shared, &mut self.spares)?;
        self.active_no = no;
        self.active_len = 0;
        self.live.insert(no, 0);
        Ok(())
    }

    /// Whether [`Journal::reclaim`] would delete or recycle a segment.
    pub(super) fn reclaimable(&self) -> bool {
        self.live.first_key_value().is_some_and(|(&no, &n)| n == 0 && no != self.active_no)
    }

    /// Recycles (or deletes, past [`SPARES`]) the oldest segments while they hold no live event (oldest
    /// first, so that a tombstone is never gone before the event it removes).
    pub(super) fn reclaim(&mut self) {
        while let Some((&no, &n)) = self.live.first_key_value() {
            if n > 0 || no == self.active_no {
                break;
            }
            let legacy = self.legacy.contains(&no);
            let path = if legacy { legacy_path(&self.dir, no) } else { segment_path(&self.dir, no) };
            let full = std::fs::metadata(&path).is_ok_and(|m| m.len() >= self.segment_bytes);
            let spare = self.dir.join(format!("spare-{no:016}"));
            let gone = if !legacy && full && self.spares.len() < SPARES {
                std::fs::rename(&path, &spare).map(|()| self.spares.push(spare))
            } else {
                std::fs::remove_file(&path)
            };
            if let Err(e) = gone {
                error!(file = %path.display(), error = %e, "cannot recycle or delete a processed queue log segment");
                break;
            }
            self.live.remove(&no);
            self.legacy.remove(&no);
            self.shared.files.write().unwrap_or_else(|p| p.into_inner()).remove(&no);
        }
    }
}

#[cfg(test)]
mod tests;
