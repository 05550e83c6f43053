//! Which files of a table's metadata folder are orphans (pure: the listing, the table's
//! references and the deleting are in [`crate::maintain`]). A file is an orphan when the
//! table's current metadata does not reach it; only an orphan older than the grace is
//! deleted, since a commit under way has written files it has not committed yet.

use std::collections::HashSet;
use std::time::Duration;

/// A file of the metadata folder as listed: its name, size and time since it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub bytes: u64,
    pub age: Duration,
}

/// The listed files nothing references: to delete, and kept because they may be a commit's
/// under way.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Orphans {
    pub delete: Vec<Listed>,
    pub too_young: Vec<Listed>,
}

/// The orphans of `listed` (in its order): not named in `referenced`, and deleted only when
/// at least `grace` old.
pub fn orphans(listed: &[Listed], referenced: &HashSet<String>, grace: Duration) -> Orphans {
    let mut out = Orphans::default();
    for f in listed.iter().filter(|f| !referenced.contains(&f.name)) {
        if f.age >= grace {
            out.delete.push(f.clone());
        } else {
            out.too_young.push(f.clone());
        }
    }
    out
}

/// The file names of referenced locations (`file:///.../metadata/snap-1.avro` ->
/// `snap-1.avro`). Names, not paths: the metadata folder is one flat folder and every name
/// in it is unique (a version and a UUID, or a snapshot id and a UUID), so a location
/// spelled differently (another `file:` form, a symlinked lake path) still protects its file;
/// a name that matches a file elsewhere only keeps a file, never deletes one.
pub fn referenced_names<'a>(locations: impl IntoIterator<Item = &'a str>) -> HashSet<String> {
    locations
        .into_iter()
        .map(|l| l.rsplit('/').next().unwrap_or(l).to_string())
        .filter(|n| !n.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, age_s: u64) -> Listed {
        Listed {
            name: name.into(),
            bytes: 100,
            age: Duration::from_secs(age_s),
        }
    }

    fn names(v: &[Listed]) -> Vec<&str> {
        v.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn referenced_files_are_never_orphans_whatever_their_age() {
        let listed = [
            file("00001-a.metadata.json", 1_000_000),
            file("snap-1.avro", 9),
        ];
        let referenced = referenced_names(["file:///l/_iceberg/t/metadata/00001-a.metadata.json"]);
        let o = orphans(&listed, &referenced, Duration::ZERO);
        assert_eq!(names(&o.delete), ["snap-1.avro"]);
        assert!(o.too_young.is_empty());
    }

    #[test]
    fn an_orphan_younger_than_the_grace_is_kept_and_one_at_the_grace_is_deleted() {
        let hour = 3600;
        let listed = [
            file("snap-old.avro", hour + 1),
            file("snap-edge.avro", hour),
            file("00009-new.metadata.json", hour - 1),
            file("m-new.avro", 0),
        ];
        let o = orphans(&listed, &HashSet::new(), Duration::from_secs(hour));
        assert_eq!(names(&o.delete), ["snap-old.avro", "snap-edge.avro"]);
        assert_eq!(
            names(&o.too_young),
            ["00009-new.metadata.json", "m-new.avro"]
        );
    }

    #[test]
    fn nothing_listed_or_everything_referenced_deletes_nothing() {
        let referenced = referenced_names(["/x/a.avro", "file:///y/b.avro"]);
        assert_eq!(
            orphans(&[], &referenced, Duration::ZERO),
            Orphans::default()
        );
        let listed = [file("a.avro", 99), file("b.avro", 99)];
        assert_eq!(
            orphans(&listed, &referenced, Duration::ZERO),
            Orphans::default()
        );
    }

    #[test]
    fn names_of_locations_in_any_spelling() {
        let got = referenced_names([
            "file:///lake/_iceberg/users/metadata/snap-1-0-u.avro",
            "/other/path/metadata/snap-1-0-u.avro",
            "s3://b/t/metadata/00002-x.metadata.json",
            "bare.avro",
            "dir/",
        ]);
        let want = ["snap-1-0-u.avro", "00002-x.metadata.json", "bare.avro"];
        assert_eq!(got, want.iter().map(|s| s.to_string()).collect());
    }
}
