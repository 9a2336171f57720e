//! The redb metadata database and its group-commit writer.
