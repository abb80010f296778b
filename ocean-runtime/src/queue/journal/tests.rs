//! The log's recovery: torn writes, damage, recycled segments and the first format.

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
    let (mut j, restored) = Journal::open(&src, 1 << 26, |_| {}).unwrap();
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
        let (mut j, restored) = Journal::open(&d, 1 << 26, |b| gone.push(b.to_vec())).unwrap();
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
        let (_, again) = Journal::open(&d, 1 << 26, |_| {}).unwrap();
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
    let (mut j, _) = Journal::open(&d, 1 << 26, |_| {}).unwrap();
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let seqs = j.append(&refs, &[]).unwrap();
    drop(j);
    // A flipped byte in the last body: that frame is torn (the newest segment), the others kept.
    let seg = segment_path(&d, 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let (mut j, restored) = Journal::open(&d, 1 << 26, |_| {}).unwrap();
    assert_eq!(restored.iter().map(|(s, _)| *s).collect::<Vec<_>>(), seqs[..2]);
    // Removing every live event deletes the old segment; the active one stays.
    j.append(&[], &seqs[..2]).unwrap();
    assert!(j.reclaimable());
    j.reclaim();
    assert!(!seg.exists(), "a segment with no live event is deleted");
    assert!(segment_path(&d, 2).exists());
    drop(j);
    let (_, restored) = Journal::open(&d, 1 << 26, |_| {}).unwrap();
    assert!(restored.is_empty());
    std::fs::remove_dir_all(d).ok();
}

fn files(d: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(d).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_recycled_segment_holds_only_its_new_life_and_its_last_frame_is_cut_at_every_byte() {
    let src = dir();
    let all = bodies(12);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let (mut j, _) = Journal::open(&src, 256, |_| {}).unwrap();
    // Segment 1 fills past its size; its removals start segment 2, and it becomes a spare.
    let first = j.append(&refs[..8], &[]).unwrap();
    j.append(&[], &first).unwrap();
    j.reclaim();
    let old = std::fs::read(src.join("spare-0000000000000001")).unwrap();
    assert_eq!(files(&src), ["0000000000000002.seg", "spare-0000000000000001"]);
    // Segment 2 fills past its size; segment 3 is the spare written over, with less than it held:
    // frames of the same sizes as its first two, so that its old frames follow on frame boundaries.
    let second = j.append(&refs[8..10], &[]).unwrap();
    let third = j.append(&refs[..2], &[]).unwrap();
    assert_eq!(files(&src), ["0000000000000002.seg", "0000000000000003.seg"]);
    drop(j);
    let moved_on = std::fs::read(segment_path(&src, 2)).unwrap();
    assert!(frames(&moved_on, Some(2)).ended, "a segment the log moved on from ends with its end frame");
    let written = std::fs::read(segment_path(&src, 3)).unwrap();
    assert_eq!(written.len(), old.len(), "written over, neither grown nor cut");
    let new_len = 2 * HEADER + all[0].len() + all[1].len();
    assert!(new_len < old.len() && written[new_len..] == old[new_len..], "the old life follows the new one");
    let start = new_len - HEADER - all[1].len();
    for cut in start..=new_len {
        let d = dir();
        std::fs::copy(segment_path(&src, 2), segment_path(&d, 2)).unwrap();
        // What a crash can leave: the new frames up to `cut`, the old life after it.
        let mut torn = written[..cut].to_vec();
        torn.extend_from_slice(&old[cut..]);
        std::fs::write(segment_path(&d, 3), &torn).unwrap();
        let mut gone = 0;
        let (j, restored) = Journal::open(&d, 256, |_| gone += 1).unwrap();
        assert_eq!(gone, 0, "cut at {cut}: frames of the old life were read as this segment's");
        // The last frame is whole when the old bytes after the cut are the ones it would have written.
        let whole = torn[..new_len] == written[..new_len];
        let mut want: Vec<u64> = second.iter().chain(&third[..1]).copied().collect();
        if whole {
            want.push(third[1]);
        }
        assert_eq!(restored.iter().map(|(s, _)| *s).collect::<Vec<_>>(), want, "cut at {cut}");
        assert_eq!(restored.last().unwrap().1, all[if whole { 1 } else { 0 }]);
        drop(j);
        std::fs::remove_dir_all(d).ok();
    }
    std::fs::remove_dir_all(src).ok();
}

#[test]
fn a_spare_left_alone_never_gives_its_number_again() {
    let d = dir();
    let all = bodies(8);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let (mut j, _) = Journal::open(&d, 256, |_| {}).unwrap();
    let seqs = j.append(&refs, &[]).unwrap();
    j.append(&[], &seqs).unwrap();
    j.append(&[b"next"], &[]).unwrap();
    j.reclaim();
    drop(j);
    // Only the spare is left: a new segment numbered 1 would read its frames as its own.
    std::fs::remove_file(segment_path(&d, 2)).unwrap();
    for _ in 0..2 {
        let (j, restored) = Journal::open(&d, 256, |_| {}).unwrap();
        assert!(restored.is_empty(), "processed events came back: {:?}", restored.len());
        assert!(j.active_no > 1);
    }
    std::fs::remove_dir_all(d).ok();
}

#[test]
fn segments_of_the_first_format_are_read_and_deleted_once_processed() {
    let d = dir();
    let all = bodies(3);
    let mut bytes = Vec::new();
    for (i, body) in all.iter().enumerate() {
        frame(&mut bytes, None, EVENT, i as u64 + 1, body);
    }
    frame(&mut bytes, None, REMOVAL, 2, &[]);
    std::fs::write(legacy_path(&d, 7), &bytes).unwrap();
    let (mut j, restored) = Journal::open(&d, 1 << 26, |_| {}).unwrap();
    assert_eq!(restored, vec![(1, all[0].clone()), (3, all[2].clone())]);
    assert_eq!(j.shared().read(3).unwrap(), all[2]);
    let s = j.append(&[b"new"], &[1, 3]).unwrap();
    assert_eq!(s, [4], "sequence numbers go on");
    j.reclaim();
    assert_eq!(files(&d), ["0000000000000008.seg"]);
    std::fs::remove_dir_all(d).ok();
}
