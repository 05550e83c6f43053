//! Deduplication by the source's key, keeping the row with the latest arrival time (ties: the
//! first occurrence in plan order). Pure: the merge feeds it decoded key columns.
//!
//! Pass 1 reads only the key and time columns and records, per row, (128-bit hash of the key,
//! time, global row number), gathered into parts by the hash's top bits as they arrive. Each
//! part is small enough for the CPU's cache, and a hash table over it finds each key's winner;
//! the winners go into a bitmap of the day's rows. Pass 2 streams every column and keeps the
//! rows whose bit is set. Memory: 32 bytes per row of one hash bucket (and a few percent of
//! headroom for the parts) plus one bit per row of the day. When a day's rows would pass the memory budget, pass 1
//! splits the hash space into buckets: every key row is spilled to its bucket's file on local
//! disk, and the buckets are read back and decided one at a time, so memory stays flat however
//! large the day (disk: 32 bytes a row, for the length of pass 1).

use arrow::array::{
    Array, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::DataType;

/// One row of pass 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRow {
    pub hash: u128,
    /// Arrival time in ms (`i64::MIN` when null: any real time wins over it).
    pub at: i64,
    /// Global row number within the day (file order, then row order).
    pub row: u64,
}

impl KeyRow {
    /// Its size in a spill file.
    pub const BYTES: usize = 32;

    pub fn to_bytes(&self) -> [u8; KeyRow::BYTES] {
        let mut out = [0u8; KeyRow::BYTES];
        out[..16].copy_from_slice(&self.hash.to_le_bytes());
        out[16..24].copy_from_slice(&self.at.to_le_bytes());
        out[24..].copy_from_slice(&self.row.to_le_bytes());
        out
    }

    pub fn from_bytes(b: &[u8; KeyRow::BYTES]) -> KeyRow {
        KeyRow {
            hash: u128::from_le_bytes(b[..16].try_into().expect("16 bytes")),
            at: i64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            row: u64::from_le_bytes(b[24..].try_into().expect("8 bytes")),
        }
    }
}

/// Memory per row of pass 1.
pub const KEY_ROW_BYTES: u64 = std::mem::size_of::<KeyRow>() as u64;

/// How many hash buckets keep pass 1 within `budget_bytes` for `rows` rows.
pub fn buckets_for(rows: u64, budget_bytes: u64) -> u64 {
    let per_bucket = (budget_bytes / KEY_ROW_BYTES).max(1);
    rows.div_ceil(per_bucket).max(1)
}

/// The bucket of a key hash (its high half; a part's hash table places rows by the low bits).
pub fn bucket_of(hash: u128, buckets: u64) -> u64 {
    if buckets <= 1 {
        0
    } else {
        ((hash >> 64) as u64) % buckets
    }
}

/// A typed view of one key column, so hashing does not downcast per row.
enum KeyColumn<'a> {
    Str(&'a StringArray),
    I32(&'a Int32Array),
    I64(&'a Int64Array),
    F64(&'a Float64Array),
    Bool(&'a BooleanArray),
    Ts(&'a TimestampMillisecondArray),
}

impl<'a> KeyColumn<'a> {
    fn of(a: &'a dyn Array) -> KeyColumn<'a> {
        let any = a.as_any();
        match a.data_type() {
            DataType::Utf8 => KeyColumn::Str(any.downcast_ref().expect("utf8")),
            DataType::Int32 => KeyColumn::I32(any.downcast_ref().expect("int32")),
            DataType::Int64 => KeyColumn::I64(any.downcast_ref().expect("int64")),
            DataType::Float64 => KeyColumn::F64(any.downcast_ref().expect("float64")),
            DataType::Boolean => KeyColumn::Bool(any.downcast_ref().expect("bool")),
            DataType::Timestamp(_, _) => KeyColumn::Ts(any.downcast_ref().expect("timestamp ms")),
            // Batches are conformed to the source's schema first, which has only these types.
            other => unreachable!("key column of type {other} in a conformed batch"),
        }
    }

    /// Append row `i` unambiguously: a null tag, or a value tag and the value (strings with
    /// their length, so ("ab","c") and ("a","bc") differ).
    fn append(&self, i: usize, buf: &mut Vec<u8>) {
        macro_rules! fixed {
            ($a:expr) => {
                if $a.is_null(i) {
                    buf.push(0)
                } else {
                    buf.push(1);
                    buf.extend_from_slice(&$a.value(i).to_le_bytes());
                }
            };
        }
        match self {
            KeyColumn::Str(a) => {
                if a.is_null(i) {
                    buf.push(0)
                } else {
                    let v = a.value(i).as_bytes();
                    buf.push(1);
                    buf.extend_from_slice(&(v.len() as u64).to_le_bytes());
                    buf.extend_from_slice(v);
                }
            }
            KeyColumn::I32(a) => fixed!(a),
            KeyColumn::I64(a) => fixed!(a),
            KeyColumn::F64(a) => fixed!(a),
            KeyColumn::Bool(a) => {
                if a.is_null(i) {
                    buf.push(0)
                } else {
                    buf.extend_from_slice(&[1, a.value(i) as u8]);
                }
            }
            KeyColumn::Ts(a) => fixed!(a),
        }
    }
}

/// The 128-bit hash of each row's key (`key` are column indices of `batch`). A null key value
/// is a value like any other: rows whose keys are both null are duplicates.
pub fn hash_keys(batch: &RecordBatch, key: &[usize], out: &mut Vec<u128>) {
    out.clear();
    let cols: Vec<KeyColumn> = key
        .iter()
        .map(|i| KeyColumn::of(batch.column(*i).as_ref()))
        .collect();
    // The common case, one string column: hash the value itself (null: a hash with another
    // seed, which no value's hash equals).
    if let [KeyColumn::Str(a)] = cols.as_slice() {
        let null = twox_hash::XxHash3_128::oneshot_with_seed(1, b"");
        out.extend((0..a.len()).map(|i| {
            if a.is_null(i) {
                null
            } else {
                twox_hash::XxHash3_128::oneshot(a.value(i).as_bytes())
            }
        }));
        return;
    }
    let mut buf = Vec::with_capacity(64);
    for i in 0..batch.num_rows() {
        buf.clear();
        for c in &cols {
            c.append(i, &mut buf);
        }
        out.push(twox_hash::XxHash3_128::oneshot(&buf));
    }
}

/// The arrival times of a conformed batch's time column (`i64::MIN` for null).
pub fn arrival_times(batch: &RecordBatch, column: usize, out: &mut Vec<i64>) {
    out.clear();
    let a = batch
        .column(column)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("the arrival column is timestamp_ms");
    if a.null_count() == 0 {
        out.extend_from_slice(a.values());
    } else {
        out.extend(a.iter().map(|v| v.unwrap_or(i64::MIN)));
    }
}

/// Parts the key rows are gathered into, by the top bits of their hash. A million-row day gives
/// parts of about 4,000 rows, whose hash table (`Winners::mark_winners`) fits in the L2 cache.
const PART_BITS: u32 = 8;
const PARTS: usize = 1 << PART_BITS;
/// Key rows from which the parts are decided on two threads.
const PARALLEL_MIN_ROWS: usize = 1 << 16;

/// The key rows of one hash bucket, gathered into parts by the top bits of their hash (every
/// row of a key lands in the same part). The parts share one allocation, so that it is mapped
/// on its own and goes back to the system when the key pass ends (`compactor::runtime`); it
/// is allocated zeroed, so room never written costs no memory (fresh pages, mapped on first
/// write).
#[derive(Debug)]
pub struct KeyRows {
    /// Part `p` is `rows[p * room..p * room + lens[p]]`.
    rows: Vec<StoredKeyRow>,
    room: usize,
    lens: Vec<usize>,
    /// Rows of parts that outgrew their room (rare: hashes spread evenly).
    overflow: Vec<KeyRow>,
}

impl KeyRows {
    /// Room for about `rows` key rows: each part gets its share and four standard deviations
    /// more; a part that passes that goes on in `overflow`.
    pub fn with_capacity(rows: u64) -> KeyRows {
        let share = rows as usize / PARTS;
        let room = share + 4 * (share as f64).sqrt() as usize + 16;
        KeyRows {
            rows: vec![[0; 4]; room * PARTS],
            room,
            lens: vec![0; PARTS],
            overflow: Vec::new(),
        }
    }

    pub fn push(&mut self, row: KeyRow) {
        let p = part_of(row.hash);
        if self.lens[p] < self.room {
            self.rows[p * self.room + self.lens[p]] = store(&row);
            self.lens[p] += 1;
        } else {
            self.overflow.push(row);
        }
    }

    pub fn len(&self) -> usize {
        self.lens.iter().sum::<usize>() + self.overflow.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parts, each as its rows in place and its rows in `overflow`.
    fn parts(&mut self) -> Vec<(&[StoredKeyRow], &[KeyRow])> {
        self.overflow.sort_unstable_by_key(|r| part_of(r.hash));
        let mut overflow = &self.overflow[..];
        (0..PARTS)
            .map(|p| {
                let start = p * self.room;
                let spilled = overflow.partition_point(|r| part_of(r.hash) == p);
                let (mine, rest) = overflow.split_at(spilled);
                overflow = rest;
                (&self.rows[start..start + self.lens[p]], mine)
            })
            .collect()
    }
}

/// A key row in `KeyRows`: plain words, which `vec!` allocates zeroed without writing them.
type StoredKeyRow = [u64; 4];

fn store(r: &KeyRow) -> StoredKeyRow {
    [r.hash as u64, (r.hash >> 64) as u64, r.at as u64, r.row]
}

fn load(s: &StoredKeyRow) -> KeyRow {
    KeyRow {
        hash: (s[1] as u128) << 64 | s[0] as u128,
        at: s[2] as i64,
        row: s[3],
    }
}

/// An unused place in `Winners::mark_winners`'s table.
const EMPTY_KEY_ROW: KeyRow = KeyRow {
    hash: 0,
    at: 0,
    row: u64::MAX,
};

fn part_of(hash: u128) -> usize {
    (hash >> (128 - PART_BITS)) as usize
}

/// The look-back across UTC midnight. A retry that straddles midnight (PutRecords, Firehose,
/// a re-fetched page) lands in two arrival days, beyond the reach of per-day dedupe. When day
/// D is compacted, its rows that arrived within `window` after D's midnight are dropped when
/// the previous day's current generation holds their key among rows that arrived within
/// `window` before it: the earlier copy stays, in D-1. Rows further from midnight are updates,
/// kept as ever.
#[derive(Debug, Clone)]
pub struct Lookback {
    /// Key hashes of D-1's rows from `midnight - window` on.
    keys: std::collections::HashSet<u128>,
    /// `midnight + window`: D's rows from here on are never dropped.
    until_ms: i64,
}

impl Lookback {
    pub fn new(keys: std::collections::HashSet<u128>, until_ms: i64) -> Lookback {
        Lookback { keys, until_ms }
    }

    /// The window around the midnight that starts `day` (UTC day number): D-1's rows from the
    /// first instant, D's rows before the second.
    pub fn bounds(day: i32, window_ms: i64) -> (i64, i64) {
        let midnight = i64::from(day) * 86_400_000;
        (midnight - window_ms, midnight + window_ms)
    }

    pub fn drops(&self, row: &KeyRow) -> bool {
        row.at < self.until_ms && self.keys.contains(&row.hash)
    }
}

/// The rows of a day that survive: one bit per row.
#[derive(Debug, Clone)]
pub struct Winners {
    bits: Vec<u64>,
    rows: u64,
    kept: u64,
    /// Rows left out by `select_dropping`.
    dropped: u64,
}

impl Winners {
    /// No row kept yet.
    pub fn none(rows: u64) -> Winners {
        Winners {
            bits: vec![0; rows.div_ceil(64) as usize],
            rows,
            kept: 0,
            dropped: 0,
        }
    }

    /// Mark the winner of each key among `rows` (one bucket's rows: every row of a key is in
    /// the same bucket). Many rows are decided on two threads, the low half of the hash space
    /// on this one and the high half on another (into a bitmap of its own, then merged): this
    /// is the one part of the key pass that would otherwise use a single core.
    pub fn select(&mut self, rows: KeyRows) {
        self.select_dropping(rows, &|_| false);
    }

    /// `select`, with the rows `drop` names left out before keys are compared (they are
    /// neither kept nor allowed to beat another copy): the look-back across midnight.
    pub fn select_dropping(&mut self, mut rows: KeyRows, drop: &(dyn Fn(&KeyRow) -> bool + Sync)) {
        let mut table = Vec::new();
        let parallel = rows.len() >= PARALLEL_MIN_ROWS;
        let parts = rows.parts();
        if !parallel {
            for part in &parts {
                self.mark_winners(part, drop, &mut table);
            }
            return;
        }
        let (low, high) = parts.split_at(PARTS / 2);
        let mut high_winners = Winners::none(self.rows);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let mut table = Vec::new();
                for part in high {
                    high_winners.mark_winners(part, drop, &mut table);
                }
            });
            for part in low {
                self.mark_winners(part, drop, &mut table);
            }
        });
        for (mine, theirs) in self.bits.iter_mut().zip(&high_winners.bits) {
            debug_assert_eq!(*mine & theirs, 0);
            *mine |= theirs;
        }
        self.kept += high_winners.kept;
        self.dropped += high_winners.dropped;
    }

    /// Mark the winner of each key in `part`: an open-addressing table keyed by the hash (its
    /// low bits place it; the top ones are the same across a part) keeps each key's best row.
    /// `table` is scratch space, reused across parts.
    fn mark_winners(
        &mut self,
        part: &(&[StoredKeyRow], &[KeyRow]),
        drop: &(dyn Fn(&KeyRow) -> bool + Sync),
        table: &mut Vec<KeyRow>,
    ) {
        const EMPTY: KeyRow = EMPTY_KEY_ROW;
        let slots = ((part.0.len() + part.1.len()) * 2)
            .next_power_of_two()
            .max(16);
        table.clear();
        table.resize(slots, EMPTY);
        let mask = slots - 1;
        for r in part.0.iter().map(load).chain(part.1.iter().copied()) {
            if drop(&r) {
                self.dropped += 1;
                continue;
            }
            let mut i = r.hash as usize & mask;
            loop {
                let slot = &mut table[i];
                if slot.row == EMPTY.row {
                    *slot = r;
                    break;
                }
                if slot.hash == r.hash {
                    if r.at > slot.at || (r.at == slot.at && r.row < slot.row) {
                        *slot = r;
                    }
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        for slot in table.iter().filter(|s| s.row != EMPTY.row) {
            let (w, b) = ((slot.row / 64) as usize, slot.row % 64);
            debug_assert!(self.bits[w] & (1 << b) == 0);
            self.bits[w] |= 1 << b;
            self.kept += 1;
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Rows kept (distinct keys).
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// Rows left out by `select_dropping`.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn contains(&self, row: u64) -> bool {
        self.bits[(row / 64) as usize] & (1 << (row % 64)) != 0
    }

    /// The filter for rows `offset..offset+len`, or `None` when all of them are kept.
    pub fn mask(&self, offset: u64, len: usize) -> Option<BooleanArray> {
        let buffer = BooleanBuffer::collect_bool(len, |i| self.contains(offset + i as u64));
        if buffer.count_set_bits() == len {
            None
        } else {
            Some(BooleanArray::new(buffer, None))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema, TimeUnit};

    fn key_rows(rows: &[KeyRow]) -> KeyRows {
        let mut out = KeyRows::with_capacity(rows.len() as u64);
        rows.iter().for_each(|r| out.push(*r));
        out
    }

    fn batch(ids: &[Option<&str>], n: &[Option<i32>]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("id", DataType::Utf8, true),
                Field::new("n", DataType::Int32, true),
            ])),
            vec![
                Arc::new(StringArray::from(ids.to_vec())),
                Arc::new(Int32Array::from(n.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn a_large_selection_on_two_threads_picks_the_winners_the_rule_picks_row_by_row() {
        // Keys repeat (up to 4 rows each), times collide, hashes cover both halves.
        let rows: Vec<KeyRow> = (0..(3 * PARALLEL_MIN_ROWS) as u64)
            .map(|row| {
                let key = twox_hash::XxHash3_128::oneshot(&(row / 4).to_le_bytes());
                KeyRow {
                    hash: key,
                    at: ((row * 7919) % 5) as i64,
                    row,
                }
            })
            .collect();
        assert!(rows.len() >= PARALLEL_MIN_ROWS);
        assert!(rows.iter().any(|r| r.hash >> 127 == 1) && rows.iter().any(|r| r.hash >> 127 == 0));
        let mut parallel = Winners::none(rows.len() as u64);
        parallel.select(key_rows(&rows));
        // The plain rule, row by row: a row wins when no row of its key is later, or equally
        // late and earlier in plan order.
        let mut best: std::collections::HashMap<u128, (i64, u64)> = Default::default();
        for r in &rows {
            let e = best.entry(r.hash).or_insert((r.at, r.row));
            if r.at > e.0 || (r.at == e.0 && r.row < e.1) {
                *e = (r.at, r.row);
            }
        }
        assert_eq!(parallel.kept(), best.len() as u64);
        for r in &rows {
            assert_eq!(
                parallel.contains(r.row),
                best[&r.hash].1 == r.row,
                "row {}",
                r.row
            );
        }
    }

    #[test]
    fn rows_past_a_parts_room_are_decided_with_the_rest_of_their_part() {
        // Room for 16 rows a part; part 5 gets 300 rows (100 keys, 3 rows each, the middle one
        // latest), part 200 gets 2, so part 5 overflows and the overflow holds another part's
        // rows only if the bounds are wrong.
        let in_part = |part: u128, k: u128| (part << (128 - PART_BITS)) | k;
        let mut rows = KeyRows::with_capacity(0);
        let mut row = 0;
        let mut expected = Vec::new();
        for k in 0..100u128 {
            for at in [1, 3, 2] {
                rows.push(KeyRow {
                    hash: in_part(5, k),
                    at,
                    row,
                });
                if at == 3 {
                    expected.push(row);
                }
                row += 1;
            }
        }
        for at in [7, 7] {
            rows.push(KeyRow {
                hash: in_part(200, 1),
                at,
                row,
            });
            row += 1;
        }
        expected.push(row - 2);
        assert!(!rows.overflow.is_empty());
        assert_eq!(rows.len(), 302);
        let mut w = Winners::none(row);
        w.select(rows);
        let kept: Vec<u64> = (0..row).filter(|r| w.contains(*r)).collect();
        assert_eq!(kept, expected);
        assert_eq!(w.kept(), 101);
    }

    #[test]
    fn equal_keys_hash_equal_and_composites_are_unambiguous() {
        let b = batch(
            &[Some("ab"), Some("a"), Some("ab"), None, None, Some("")],
            &[Some(1), Some(1), Some(1), None, None, None],
        );
        let mut one = Vec::new();
        hash_keys(&b, &[0], &mut one);
        assert_eq!(one[0], one[2]);
        assert_ne!(one[0], one[1]);
        assert_eq!(one[3], one[4], "null keys are equal to each other");
        assert_ne!(one[3], one[5], "null is not the empty string");
        let mut two = Vec::new();
        hash_keys(&b, &[0, 1], &mut two);
        assert_eq!(two[0], two[2]);
        assert_ne!(two[0], one[0]);
        // ("ab", 1) vs ("a", 1): the length prefix keeps them apart.
        assert_ne!(two[0], two[1]);
        // A key hashes the same in a batch with nulls and in one without.
        let with_null = one.clone();
        let no_nulls = batch(&[Some("x"), Some("ab"), Some("x")], &[None, None, None]);
        hash_keys(&no_nulls, &[0], &mut one);
        assert_eq!(one[0], one[2]);
        assert_eq!(one[1], with_null[0]);
        let mut two_again = Vec::new();
        hash_keys(&batch(&[Some("ab")], &[Some(1)]), &[0, 1], &mut two_again);
        assert_eq!(two_again[0], two[0]);
    }

    #[test]
    fn latest_wins_and_ties_go_to_the_first_occurrence() {
        let mut w = Winners::none(7);
        let k = |h: u128, at: i64, row: u64| KeyRow { hash: h, at, row };
        let rows = vec![
            k(1, 10, 0),
            k(2, 50, 1),
            k(1, 30, 2), // key 1: latest
            k(2, 50, 3), // key 2: tie with row 1 -> row 1
            k(3, i64::MIN, 4),
            k(3, 0, 5), // key 3: a real time beats a null one
            k(1, 20, 6),
        ];
        w.select(key_rows(&rows));
        let kept: Vec<u64> = (0..7).filter(|r| w.contains(*r)).collect();
        assert_eq!(kept, [1, 2, 5]);
        assert_eq!(w.kept(), 3);
        let m = w.mask(0, 4).unwrap();
        assert_eq!(
            m.iter().map(|b| b.unwrap()).collect::<Vec<_>>(),
            [false, true, true, false]
        );
        assert!(w.mask(1, 2).is_none(), "all kept: no filter needed");
    }

    #[test]
    fn buckets_split_the_work_not_the_keys() {
        assert_eq!(buckets_for(1_000_000, 32 << 20), 1);
        assert_eq!(buckets_for(10_000_000, 32 << 20), 10);
        assert_eq!(buckets_for(0, 32 << 20), 1);
        // Every row of a key lands in the same bucket, and buckets are used evenly.
        let b = batch(
            &(0..4000)
                .map(|i| Some(["a", "b", "c", "d"][i % 4]))
                .collect::<Vec<_>>(),
            &vec![None; 4000],
        );
        let mut h = Vec::new();
        hash_keys(&b, &[0], &mut h);
        for (i, x) in h.iter().enumerate() {
            assert_eq!(bucket_of(*x, 3), bucket_of(h[i % 4], 3));
        }
        let ids: Vec<String> = (0..30_000).map(|i| format!("user-{i}")).collect();
        let b = batch(
            &ids.iter().map(|s| Some(s.as_str())).collect::<Vec<_>>(),
            &vec![None; 30_000],
        );
        hash_keys(&b, &[0], &mut h);
        let mut counts = [0u32; 3];
        for x in &h {
            counts[bucket_of(*x, 3) as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (9_000..11_000).contains(c)),
            "{counts:?}"
        );
    }

    #[test]
    fn key_rows_round_trip_through_spill_bytes() {
        let k = KeyRow {
            hash: u128::MAX - 7,
            at: -5,
            row: 1 << 40,
        };
        assert_eq!(KeyRow::from_bytes(&k.to_bytes()), k);
        assert_eq!(load(&store(&k)), k);
        assert_eq!(KEY_ROW_BYTES as usize, KeyRow::BYTES);
    }

    #[test]
    fn arrival_times_treat_null_as_oldest() {
        let b = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                true,
            )])),
            vec![Arc::new(
                TimestampMillisecondArray::from(vec![Some(3), None]).with_timezone("UTC"),
            )],
        )
        .unwrap();
        let mut out = Vec::new();
        arrival_times(&b, 0, &mut out);
        assert_eq!(out, [3, i64::MIN]);
    }

    #[test]
    fn the_look_back_drops_copies_near_midnight_only() {
        let day = 20_000;
        let (from, until) = Lookback::bounds(day, 15 * 60_000);
        assert_eq!(until - from, 30 * 60_000);
        let lookback = Lookback::new([1u128, 2].into_iter().collect(), until);
        let row = |hash, at, row| KeyRow { hash, at, row };
        let rows = [
            row(1, until - 1, 0), // a retry of D-1's key 1: dropped
            row(2, until, 1),     // key 2, after the window: an update, kept
            row(3, until - 1, 2), // a key D-1 does not hold near midnight: kept
            row(1, until + 5, 3), // key 1 again, later: kept
        ];
        let mut w = Winners::none(4);
        w.select_dropping(key_rows(&rows), &|k| lookback.drops(k));
        assert_eq!(
            (0..4).map(|r| w.contains(r)).collect::<Vec<_>>(),
            [false, true, true, true]
        );
        assert_eq!((w.kept(), w.dropped()), (3, 1));
    }
}
