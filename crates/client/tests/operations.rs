//! Every single-request operation of the client against the real server, signed V1 and V4.

mod common;

use bytes::Bytes;
use common::TestServer;
use futures_util::TryStreamExt;
use ossvault_client::{ListRequest, PutOptions, RangeSpec, RequestBody, SignVersion};

#[tokio::test]
async fn object_round_trips_with_both_signatures() {
    let s = TestServer::start().await;
    for (i, version) in [SignVersion::V1, SignVersion::V4].into_iter().enumerate() {
        let c = s.client(version);
        let bucket = format!("ops-{i}");
        c.create_bucket(&bucket, None).await.unwrap();
        let key = "dir/中文 +%.txt";
        let opts = PutOptions {
            content_type: Some("text/plain".into()),
            headers: vec![("x-oss-meta-owner".into(), "alice".into())],
            content_md5: true,
            forbid_overwrite: false,
        };
        let put = c
            .put_object(
                &bucket,
                key,
                RequestBody::Bytes(Bytes::from_static(b"hello world")),
                &opts,
            )
            .await
            .unwrap();
        assert_eq!(put.etag, "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"");
        assert_eq!(put.crc64, Some(5981764153023615706));
        let meta = c.head_object(&bucket, key).await.unwrap();
        assert_eq!(meta.size, 11);
        assert_eq!(meta.header("x-oss-meta-owner"), Some("alice"));
        assert_eq!(meta.content_type.as_deref(), Some("text/plain"));

        let mut out = Vec::new();
        c.download(&bucket, key, None, &mut out, None, |_| {})
            .await
            .unwrap();
        assert_eq!(out, b"hello world");
        let mut part = Vec::new();
        let range = Some(RangeSpec::From {
            start: 6,
            end: None,
        });
        let m = c
            .download(&bucket, key, range, &mut part, None, |_| {})
            .await
            .unwrap();
        assert_eq!((part.as_slice(), m.size), (&b"world"[..], 11));

        let pages: Vec<_> = c
            .list_pages(
                &bucket,
                ListRequest {
                    delimiter: "/".into(),
                    ..Default::default()
                },
            )
            .try_collect()
            .await
            .unwrap();
        assert_eq!(pages[0].prefixes, vec!["dir/".to_owned()]);

        c.copy_object(&bucket, key, &bucket, "copy", None)
            .await
            .unwrap();
        let deleted = c
            .delete_objects(&bucket, &[key.to_owned(), "copy".to_owned()])
            .await
            .unwrap();
        assert_eq!(deleted.len(), 2);
        let err = c.head_object(&bucket, key).await.unwrap_err();
        assert_eq!(err.code(), Some("NoSuchKey"));
        c.delete_bucket(&bucket).await.unwrap();
    }
}
