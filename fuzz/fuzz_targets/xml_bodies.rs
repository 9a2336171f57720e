//! Every XML body the server parses (request bodies) and the client parses (responses): the
//! first byte picks the model, the rest is the document. Whatever `from_xml` accepts must
//! serialise with `to_xml` (no panic) and parse back to an equal value (round trip), and the
//! re-serialisation must be stable (serialise → parse → serialise gives the same text).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ossvault_proto::xml::*;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

fn round_trip<T>(root: &str, body: &str)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let Ok(value) = from_xml::<T>(body) else {
        return;
    };
    let xml = to_xml(root, &value);
    let back: T = from_xml(&xml)
        .unwrap_or_else(|e| panic!("<{root}> does not re-parse: {e}\nvalue {value:?}\nxml {xml}"));
    assert_eq!(
        back, value,
        "<{root}> round trip changed the value\nxml {xml}"
    );
    assert_eq!(
        to_xml(root, &back),
        xml,
        "<{root}> serialisation is not stable"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(body) = std::str::from_utf8(rest) else {
        return;
    };
    match which % 20 {
        // Request bodies the server parses.
        0 => round_trip::<CompleteMultipartUpload>("CompleteMultipartUpload", body),
        1 => round_trip::<Delete>("Delete", body),
        2 => round_trip::<CreateBucketConfiguration>("CreateBucketConfiguration", body),
        3 => round_trip::<ServerSideEncryptionRule>("ServerSideEncryptionRule", body),
        4 => round_trip::<AccessControlPolicy>("AccessControlPolicy", body),
        // Responses the client parses.
        5 => round_trip::<ErrorBody>("Error", body),
        6 => round_trip::<ListAllMyBucketsResult>("ListAllMyBucketsResult", body),
        7 => round_trip::<ListBucketResult>("ListBucketResult", body),
        8 => round_trip::<ListBucketResultV2>("ListBucketResult", body),
        9 => round_trip::<DeleteResult>("DeleteResult", body),
        10 => round_trip::<CopyObjectResult>("CopyObjectResult", body),
        11 => round_trip::<CopyPartResult>("CopyPartResult", body),
        12 => round_trip::<InitiateMultipartUploadResult>("InitiateMultipartUploadResult", body),
        13 => round_trip::<CompleteMultipartUploadResult>("CompleteMultipartUploadResult", body),
        14 => round_trip::<ListPartsResult>("ListPartsResult", body),
        15 => round_trip::<ListMultipartUploadsResult>("ListMultipartUploadsResult", body),
        16 => round_trip::<BucketInfo>("BucketInfo", body),
        17 => round_trip::<BucketStat>("BucketStat", body),
        18 => round_trip::<ListLiveChannelResult>("ListLiveChannelResult", body),
        _ => {
            // The text-only root: the location must come out escaped, never as markup.
            let xml = location_constraint_xml(body);
            let inner = xml
                .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint>")
                .and_then(|x| x.strip_suffix("</LocationConstraint>"))
                .unwrap_or_else(|| panic!("unexpected document shape: {xml}"));
            assert!(!inner.contains('<'), "unescaped markup: {xml}");
        }
    }
});
