//! Offset bookkeeping for one assigned partition (pure: no I/O). It decides what the consumer
//! group may commit: only the position after records that are durable in the lake, never
//! backwards, and nothing for records that were read but dropped (revoked, or read again
//! after a rewind).

/// What a record read at some offset means for the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    /// The next record: append it to the buffer.
    Next,
    /// The offset is at or below one already read (librdkafka fetched again from an earlier
    /// position: an offset reset, a seek): drop the buffer, then append the record to the
    /// new, empty one. Whatever was dropped is read again, so nothing is lost.
    Rewound,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// The last offset read since the assignment.
    last_read: Option<i64>,
    /// The first offset in the buffer (`None`: the buffer is empty).
    buffer_first: Option<i64>,
    /// The offset after the last record durable in the lake: the commit position.
    durable_next: Option<i64>,
    /// The last commit position the group confirmed.
    committed_next: Option<i64>,
}

impl PartitionOffsets {
    pub fn read(&mut self, offset: i64) -> Read {
        let rewound = self.last_read.is_some_and(|last| offset <= last);
        if rewound || self.buffer_first.is_none() {
            self.buffer_first = Some(offset);
        }
        self.last_read = Some(offset);
        if rewound { Read::Rewound } else { Read::Next }
    }

    /// The buffer is being written out: the first and last offset it holds. The buffer is
    /// empty from here on; `durable` follows once the write is durable.
    pub fn flushing(&mut self) -> Option<(i64, i64)> {
        let first = self.buffer_first.take()?;
        Some((first, self.last_read.expect("a buffered record was read")))
    }

    /// The records up to `last` are durable in the lake.
    pub fn durable(&mut self, last: i64) {
        let next = last + 1;
        self.durable_next = Some(self.durable_next.map_or(next, |d| d.max(next)));
    }

    /// The commit position to send now, if the lake holds more than the group has.
    pub fn commit_due(&self) -> Option<i64> {
        let durable = self.durable_next?;
        (self.committed_next.is_none_or(|c| durable > c)).then_some(durable)
    }

    /// The group confirmed a commit of `next` (confirmations may arrive out of order).
    pub fn committed(&mut self, next: i64) {
        self.committed_next = Some(self.committed_next.map_or(next, |c| c.max(next)));
    }

    pub fn durable_next(&self) -> Option<i64> {
        self.durable_next
    }

    pub fn committed_next(&self) -> Option<i64> {
        self.committed_next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_only_what_is_durable() {
        let mut o = PartitionOffsets::default();
        assert_eq!(o.commit_due(), None);
        for off in 10..15 {
            assert_eq!(o.read(off), Read::Next);
        }
        // Read but not durable: nothing to commit.
        assert_eq!(o.commit_due(), None);
        assert_eq!(o.flushing(), Some((10, 14)));
        assert_eq!(
            o.flushing(),
            None,
            "the buffer is empty after a flush begins"
        );
        // Records read while the write is under way belong to the next buffer.
        assert_eq!(o.read(15), Read::Next);
        assert_eq!(o.commit_due(), None, "the write is not durable yet");
        o.durable(14);
        assert_eq!(
            o.commit_due(),
            Some(15),
            "the offset after the last durable record"
        );
        o.committed(15);
        assert_eq!(o.commit_due(), None);
        assert_eq!(o.flushing(), Some((15, 15)));
    }

    #[test]
    fn never_commits_backwards() {
        let mut o = PartitionOffsets::default();
        o.read(100);
        o.flushing();
        o.durable(100);
        o.committed(101);
        // A confirmation of an older commit arriving late changes nothing.
        o.committed(50);
        assert_eq!(o.committed_next(), Some(101));
        // A rewind below what is durable re-reads durable records: their files exist, and
        // the commit position does not move back.
        assert_eq!(o.read(90), Read::Rewound);
        assert_eq!(o.flushing(), Some((90, 90)));
        o.durable(90);
        assert_eq!(o.durable_next(), Some(101));
        assert_eq!(o.commit_due(), None);
    }

    #[test]
    fn a_rewind_restarts_the_buffer_at_the_rewound_offset() {
        let mut o = PartitionOffsets::default();
        o.read(5);
        o.read(6);
        o.read(7);
        // librdkafka fetched again from 6: the buffer (5..=7) is dropped by the caller and
        // starts again at 6, so no file ever holds a record twice or a gap.
        assert_eq!(o.read(6), Read::Rewound);
        assert_eq!(o.read(7), Read::Next);
        assert_eq!(o.read(8), Read::Next);
        assert_eq!(o.flushing(), Some((6, 8)));
        assert_eq!(o.commit_due(), None);
    }

    #[test]
    fn offsets_may_skip_but_the_commit_is_after_the_last_record_written() {
        // Compacted topics and transaction markers leave gaps in offsets.
        let mut o = PartitionOffsets::default();
        o.read(3);
        o.read(9);
        assert_eq!(o.flushing(), Some((3, 9)));
        o.durable(9);
        assert_eq!(o.commit_due(), Some(10));
    }
}
