use super::*;
use std::fmt::Debug;

const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Serialises, checks the document shape, parses back and compares.
fn round_trip<T>(root: &str, value: &T) -> String
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + Debug,
{
    let xml = to_xml(root, value);
    assert!(xml.starts_with(DECL), "{xml}");
    assert!(xml[DECL.len()..].starts_with(&format!("<{root}>")), "{xml}");
    assert!(xml.ends_with(&format!("</{root}>")), "{xml}");
    let back: T = from_xml(&xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    assert_eq!(&back, value, "{xml}");
    xml
}

fn owner() -> Owner {
    Owner {
        id: "1234567890".into(),
        display_name: "owner & co".into(),
    }
}

fn object(key: &str) -> ObjectSummary {
    ObjectSummary {
        key: key.into(),
        last_modified: "2015-02-02T05:15:13.000Z".into(),
        etag: "\"716AF6FFD529DFEA856FAA4E12D2C5EA\"".into(),
        object_type: "Normal".into(),
        size: 4308,
        storage_class: "Standard".into(),
        owner: Some(owner()),
        restore_info: None,
    }
}

fn bucket_summary(name: &str) -> BucketSummary {
    BucketSummary {
        creation_date: "2014-02-07T18:12:43.000Z".into(),
        extranet_endpoint: "127.0.0.1:9000".into(),
        intranet_endpoint: "127.0.0.1:9000".into(),
        location: "oss-cn-hangzhou".into(),
        name: name.into(),
        region: "cn-hangzhou".into(),
        storage_class: "Standard".into(),
    }
}

#[test]
fn error_body() {
    let full = ErrorBody {
        code: "SignatureDoesNotMatch".into(),
        message: "The request signature we calculated does not match.".into(),
        request_id: "566B6BEBD4C05B21E97261B0".into(),
        host_id: "bkt.127.0.0.1".into(),
        ec: Some("0002-00000040".into()),
        string_to_sign: Some("GET\n\n\n1699807420\n/bucket/key?a&b".into()),
        signature_provided: Some("dcLTea+Yh9ApirQ8o8dOPqtvJXQ=".into()),
        oss_access_key_id: Some("ak".into()),
        bucket_name: Some("bkt".into()),
        key: Some("k<1>".into()),
    };
    let xml = round_trip("Error", &full);
    assert!(xml.contains("<EC>0002-00000040</EC>"), "{xml}");
    assert!(xml.contains("<OSSAccessKeyId>ak</OSSAccessKeyId>"), "{xml}");
    assert!(xml.contains("<StringToSign>GET\n\n\n1699807420\n/bucket/key?a&amp;b</StringToSign>"));

    let minimal = ErrorBody {
        code: "NoSuchKey".into(),
        message: "The specified key does not exist.".into(),
        request_id: "566B6BEBD4C05B21E97261B0".into(),
        host_id: "bkt.host".into(),
        ..Default::default()
    };
    let xml = round_trip("Error", &minimal);
    assert_eq!(
        xml,
        format!(
            "{DECL}<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.\
             </Message><RequestId>566B6BEBD4C05B21E97261B0</RequestId><HostId>bkt.host\
             </HostId></Error>"
        )
    );
}

#[test]
fn list_buckets() {
    let value = ListAllMyBucketsResult {
        prefix: Some("b".into()),
        marker: Some("a".into()),
        max_keys: Some(100),
        is_truncated: Some(true),
        next_marker: Some("bkt2".into()),
        owner: owner(),
        buckets: Buckets {
            bucket: vec![bucket_summary("bkt1"), bucket_summary("bkt2")],
        },
    };
    let xml = round_trip("ListAllMyBucketsResult", &value);
    assert!(xml.contains("<Buckets><Bucket><CreationDate>"), "{xml}");
    assert_eq!(xml.matches("<Bucket>").count(), 2);
    assert_eq!(xml.matches("<Buckets>").count(), 1);

    let empty = ListAllMyBucketsResult::default();
    let xml = round_trip("ListAllMyBucketsResult", &empty);
    assert!(xml.contains("<Buckets></Buckets>"), "{xml}");
    assert!(!xml.contains("<Prefix>"), "{xml}");
}

#[test]
fn create_bucket_configuration() {
    round_trip(
        "CreateBucketConfiguration",
        &CreateBucketConfiguration::default(),
    );
    round_trip(
        "CreateBucketConfiguration",
        &CreateBucketConfiguration {
            storage_class: Some("IA".into()),
            data_redundancy_type: Some("LRS".into()),
        },
    );
    let parsed: CreateBucketConfiguration = from_xml(
        "<?xml version='1.0' encoding='utf-8'?>\n<CreateBucketConfiguration>\
         <StorageClass>Archive</StorageClass></CreateBucketConfiguration>",
    )
    .unwrap();
    assert_eq!(parsed.storage_class.as_deref(), Some("Archive"));
    assert_eq!(parsed.data_redundancy_type, None);
}

#[test]
fn access_control_policy() {
    let value = AccessControlPolicy {
        owner: owner(),
        access_control_list: AccessControlList {
            grant: "public-read".into(),
        },
    };
    let xml = round_trip("AccessControlPolicy", &value);
    assert!(xml.contains("<AccessControlList><Grant>public-read</Grant></AccessControlList>"));
}

#[test]
fn policy_status() {
    let xml = round_trip("PolicyStatus", &PolicyStatus { is_public: true });
    assert!(
        xml.ends_with("<PolicyStatus><IsPublic>true</IsPublic></PolicyStatus>"),
        "{xml}"
    );
}

#[test]
fn bucket_info() {
    let value = BucketInfo {
        bucket: BucketInfoBucket {
            access_monitor: "Disabled".into(),
            creation_date: "2013-07-31T10:56:21.000Z".into(),
            extranet_endpoint: "127.0.0.1:9000".into(),
            intranet_endpoint: "127.0.0.1:9000".into(),
            location: "oss-cn-hangzhou".into(),
            storage_class: "Standard".into(),
            transfer_acceleration: "Disabled".into(),
            cross_region_replication: "Disabled".into(),
            name: "bkt".into(),
            resource_group_id: "rg-acfmy".into(),
            owner: owner(),
            access_control_list: AccessControlList {
                grant: "private".into(),
            },
            comment: String::new(),
            data_redundancy_type: "LRS".into(),
            server_side_encryption_rule: BucketInfoSseRule {
                sse_algorithm: "KMS".into(),
                kms_master_key_id: Some("key-1".into()),
                kms_data_encryption: Some("SM4".into()),
            },
            versioning: Some("Enabled".into()),
            block_public_access: true,
        },
    };
    let xml = round_trip("BucketInfo", &value);
    assert!(xml.contains("<Comment></Comment>"), "{xml}");
    assert!(
        xml.ends_with("<BlockPublicAccess>true</BlockPublicAccess></Bucket></BucketInfo>"),
        "{xml}"
    );
    assert!(xml.contains(
        "<ServerSideEncryptionRule><SSEAlgorithm>KMS</SSEAlgorithm>\
         <KMSMasterKeyID>key-1</KMSMasterKeyID><KMSDataEncryption>SM4</KMSDataEncryption>\
         </ServerSideEncryptionRule>"
    ));

    // Elements the model does not know (OSS's BucketPolicy, any it adds later): ignored.
    let mut with_extras = xml.replace(
        "<DataRedundancyType>",
        "<SomeLaterElement>x</SomeLaterElement><DataRedundancyType>",
    );
    with_extras = with_extras.replace(
        "</Bucket></BucketInfo>",
        "<BucketPolicy><LogBucket/><LogPrefix/></BucketPolicy></Bucket></BucketInfo>",
    );
    assert_eq!(from_xml::<BucketInfo>(&with_extras).unwrap(), value);

    // SSEAlgorithm None with empty optional elements.
    let none = with_extras
        .replace(
            "<SSEAlgorithm>KMS</SSEAlgorithm>",
            "<SSEAlgorithm>None</SSEAlgorithm>",
        )
        .replace(
            "<KMSMasterKeyID>key-1</KMSMasterKeyID>",
            "<KMSMasterKeyID/>",
        )
        .replace("<KMSDataEncryption>SM4</KMSDataEncryption>", "");
    let parsed: BucketInfo = from_xml(&none).unwrap();
    assert_eq!(
        parsed.bucket.server_side_encryption_rule,
        BucketInfoSseRule {
            sse_algorithm: "None".into(),
            kms_master_key_id: None,
            kms_data_encryption: None
        }
    );
}

#[test]
fn bucket_stat() {
    let xml = round_trip(
        "BucketStat",
        &BucketStat {
            storage: 1600,
            object_count: 230,
            multipart_upload_count: 40,
            standard_storage: 1600,
            standard_object_count: 230,
            ..Default::default()
        },
    );
    assert!(xml.contains("<Storage>1600</Storage><ObjectCount>230</ObjectCount>"));
    assert!(xml.contains("<StandardStorage>1600</StandardStorage>"));
    assert!(xml.contains("<ColdArchiveObjectCount>0</ColdArchiveObjectCount>"));
}

#[test]
fn tagging_reads_what_the_sdks_write() {
    // oss2's to_put_object_tagging: no Value element for an empty value is possible too.
    let t: Tagging = from_xml(
        "<Tagging><TagSet><Tag><Key>k1</Key><Value>v1</Value></Tag>\
         <Tag><Key>k2</Key><Value></Value></Tag></TagSet></Tagging>",
    )
    .unwrap();
    assert_eq!(t.tag_set.tag.len(), 2);
    assert_eq!(
        (
            t.tag_set.tag[1].key.as_str(),
            t.tag_set.tag[1].value.as_str()
        ),
        ("k2", "")
    );
    let xml = to_xml("Tagging", &t);
    assert!(
        xml.contains("<TagSet><Tag><Key>k1</Key><Value>v1</Value></Tag>"),
        "{xml}"
    );
}

#[test]
fn restore_request_round_trips_without_job_parameters() {
    let r = RestoreRequest {
        days: Some(2),
        job_parameters: None,
    };
    let xml = round_trip("RestoreRequest", &r);
    assert!(!xml.contains("JobParameters"), "{xml}");
    let t: RestoreRequest =
        from_xml("<RestoreRequest><Days>5</Days><JobParameters><Tier>Bulk</Tier></JobParameters></RestoreRequest>")
            .unwrap();
    assert_eq!(t.job_parameters.unwrap().tier, "Bulk");
}

#[test]
fn location_constraint() {
    assert_eq!(
        location_constraint_xml("oss-cn-hangzhou"),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <LocationConstraint>oss-cn-hangzhou</LocationConstraint>"
    );
    assert_eq!(
        location_constraint_xml("a<b"),
        format!("{DECL}<LocationConstraint>a&lt;b</LocationConstraint>")
    );
}

#[test]
fn live_channels() {
    let value = ListLiveChannelResult {
        prefix: String::new(),
        marker: String::new(),
        max_keys: 100,
        is_truncated: false,
        next_marker: None,
    };
    let xml = round_trip("ListLiveChannelResult", &value);
    assert_eq!(
        xml,
        format!(
            "{DECL}<ListLiveChannelResult><Prefix></Prefix><Marker></Marker>\
             <MaxKeys>100</MaxKeys><IsTruncated>false</IsTruncated></ListLiveChannelResult>"
        )
    );
}

#[test]
fn list_objects_v1_structure() {
    let value = ListBucketResult {
        name: "bkt".into(),
        prefix: "a%2F".into(),
        marker: String::new(),
        max_keys: 100,
        delimiter: "%2F".into(),
        encoding_type: Some("url".into()),
        is_truncated: true,
        next_marker: Some("a%2Fz.txt".into()),
        contents: vec![
            object("a%2Fb.txt"),
            ObjectSummary {
                owner: None,
                ..object("a%2Fc.txt")
            },
        ],
        common_prefixes: vec![
            CommonPrefix {
                prefix: "a%2Fdir%2F".into(),
            },
            CommonPrefix {
                prefix: "a%2Fother%2F".into(),
            },
        ],
    };
    let xml = round_trip("ListBucketResult", &value);
    let expected = format!(
        "{DECL}<ListBucketResult>\
         <Name>bkt</Name><Prefix>a%2F</Prefix><Marker></Marker><MaxKeys>100</MaxKeys>\
         <Delimiter>%2F</Delimiter><EncodingType>url</EncodingType>\
         <IsTruncated>true</IsTruncated><NextMarker>a%2Fz.txt</NextMarker>\
         <Contents><Key>a%2Fb.txt</Key><LastModified>2015-02-02T05:15:13.000Z</LastModified>\
         <ETag>\"716AF6FFD529DFEA856FAA4E12D2C5EA\"</ETag><Type>Normal</Type><Size>4308</Size>\
         <StorageClass>Standard</StorageClass>\
         <Owner><ID>1234567890</ID><DisplayName>owner &amp; co</DisplayName></Owner></Contents>\
         <Contents><Key>a%2Fc.txt</Key><LastModified>2015-02-02T05:15:13.000Z</LastModified>\
         <ETag>\"716AF6FFD529DFEA856FAA4E12D2C5EA\"</ETag><Type>Normal</Type><Size>4308</Size>\
         <StorageClass>Standard</StorageClass></Contents>\
         <CommonPrefixes><Prefix>a%2Fdir%2F</Prefix></CommonPrefixes>\
         <CommonPrefixes><Prefix>a%2Fother%2F</Prefix></CommonPrefixes>\
         </ListBucketResult>"
    );
    assert_eq!(xml, expected);
}

#[test]
fn list_objects_v1_minimal() {
    // Not truncated, no encoding: optional elements absent, required ones present.
    let value = ListBucketResult {
        name: "bkt".into(),
        max_keys: 100,
        ..Default::default()
    };
    let xml = round_trip("ListBucketResult", &value);
    assert!(xml.contains("<Prefix></Prefix><Marker></Marker>"), "{xml}");
    assert!(xml.contains("<Delimiter></Delimiter><IsTruncated>false</IsTruncated>"));
    assert!(!xml.contains("NextMarker") && !xml.contains("EncodingType"));
    assert!(!xml.contains("<Contents>") && !xml.contains("<CommonPrefixes>"));

    // One of each parses into one-element vectors; `<NextMarker/>` reads as absent.
    let parsed: ListBucketResult = from_xml(
        "<ListBucketResult><Name>b</Name><Prefix/><Marker/><MaxKeys>1</MaxKeys>\
         <Delimiter>/</Delimiter><IsTruncated>false</IsTruncated><NextMarker/>\
         <Contents><Key>k</Key><LastModified>2015-02-02T05:15:13.000Z</LastModified>\
         <ETag>\"E\"</ETag><Type>Normal</Type><Size>1</Size><StorageClass>IA</StorageClass>\
         </Contents><CommonPrefixes><Prefix>d/</Prefix></CommonPrefixes></ListBucketResult>",
    )
    .unwrap();
    assert_eq!(parsed.contents.len(), 1);
    assert_eq!(parsed.contents[0].owner, None);
    assert_eq!(parsed.common_prefixes[0].prefix, "d/");
    assert_eq!(parsed.next_marker, None);
    assert_eq!(parsed.prefix, "");
}

#[test]
fn list_objects_v2() {
    let value = ListBucketResultV2 {
        name: "bkt".into(),
        prefix: String::new(),
        continuation_token: Some("ChR1c2VyL2VyaWMvZGVtbzMuanNvbhAA".into()),
        start_after: Some("a".into()),
        max_keys: 2,
        delimiter: "%2F".into(),
        encoding_type: Some("url".into()),
        is_truncated: true,
        next_continuation_token: Some("CgJiYw--".into()),
        key_count: 3,
        contents: vec![object("b"), object("c")],
        common_prefixes: vec![CommonPrefix {
            prefix: "d%2F".into(),
        }],
    };
    let xml = round_trip("ListBucketResult", &value);
    assert!(xml.contains(
        "<NextContinuationToken>CgJiYw--</NextContinuationToken><KeyCount>3</KeyCount><Contents>"
    ));
    assert_eq!(xml.matches("<Contents>").count(), 2);
    round_trip("ListBucketResult", &ListBucketResultV2::default());
}

#[test]
fn delete_request_parsing() {
    // As oss2 writes it: single-quoted declaration, Quiet always present, keys as plain text.
    let body = "<?xml version='1.0' encoding='utf-8'?>\n<Delete><Quiet>true</Quiet>\
                <Object><Key>a&amp;b</Key></Object>\
                <Object><Key>阿里云/加油/:?;@&amp;=+$, /&lt;&gt;{}[]|/</Key></Object>\
                <Object><Key>k</Key><VersionId>CAEQ</VersionId></Object></Delete>";
    let parsed: Delete = from_xml(body).unwrap();
    assert_eq!(parsed.quiet, Some(true));
    let keys: Vec<&str> = parsed.object.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a&b", "阿里云/加油/:?;@&=+$, /<>{}[]|/", "k"]);
    assert_eq!(parsed.object[2].version_id.as_deref(), Some("CAEQ"));

    // As v2 writes it: no Quiet unless set.
    let parsed: Delete =
        from_xml("<Delete><Object><Key>中文+_)(*&amp;^%$#@!前缀</Key></Object></Delete>").unwrap();
    assert_eq!(parsed.quiet, None);
    assert_eq!(parsed.object[0].key, "中文+_)(*&^%$#@!前缀");
    let parsed: Delete = from_xml("<Delete><Quiet>false</Quiet></Delete>").unwrap();
    assert_eq!(parsed.quiet, Some(false));
    assert!(parsed.object.is_empty());

    // Whitespace inside a key is part of the key.
    let parsed: Delete = from_xml("<Delete><Object><Key> a b </Key></Object></Delete>").unwrap();
    assert_eq!(parsed.object[0].key, " a b ");

    round_trip(
        "Delete",
        &Delete {
            quiet: Some(false),
            object: vec![
                DeleteObjectEntry {
                    key: "x&y<z>".into(),
                    version_id: None,
                },
                DeleteObjectEntry {
                    key: "中文".into(),
                    version_id: Some("v1".into()),
                },
            ],
        },
    );
}

#[test]
fn delete_result() {
    let value = DeleteResult {
        encoding_type: Some("url".into()),
        deleted: vec![
            DeletedEntry {
                key: "a%26b".into(),
                ..Default::default()
            },
            DeletedEntry {
                key: "c".into(),
                version_id: Some("0000018c5f2f3a1b0c2d3e4f".into()),
                delete_marker: Some(true),
                delete_marker_version_id: Some("0000018c5f2f3a1b0c2d3e4f".into()),
            },
        ],
        error: vec![DeleteError {
            key: "p/x".into(),
            code: "AccessDenied".into(),
            message: "denied".into(),
        }],
    };
    let xml = round_trip("DeleteResult", &value);
    assert!(xml.contains(
        "<Error><Key>p/x</Key><Code>AccessDenied</Code><Message>denied</Message></Error>"
    ));
    assert!(xml.contains(
        "<EncodingType>url</EncodingType><Deleted><Key>a%26b</Key></Deleted><Deleted><Key>c</Key>\
         <VersionId>0000018c5f2f3a1b0c2d3e4f</VersionId><DeleteMarker>true</DeleteMarker>\
         <DeleteMarkerVersionId>0000018c5f2f3a1b0c2d3e4f</DeleteMarkerVersionId></Deleted>"
    ));
    // Quiet mode: no entries.
    let xml = round_trip("DeleteResult", &DeleteResult::default());
    assert_eq!(xml, format!("{DECL}<DeleteResult></DeleteResult>"));
    // A versioned delete's answer, as OSS writes it; unknown elements are ignored.
    let parsed: DeleteResult = from_xml(
        "<DeleteResult><Deleted><Key>k</Key><DeleteMarker>true</DeleteMarker>\
         <DeleteMarkerVersionId>v</DeleteMarkerVersionId><Extra/></Deleted></DeleteResult>",
    )
    .unwrap();
    assert_eq!(
        parsed.deleted,
        vec![DeletedEntry {
            key: "k".into(),
            delete_marker: Some(true),
            delete_marker_version_id: Some("v".into()),
            ..Default::default()
        }]
    );
}

#[test]
fn copy_results() {
    let xml = round_trip(
        "CopyObjectResult",
        &CopyObjectResult {
            etag: "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"".into(),
            last_modified: "2015-12-12T00:37:53.000Z".into(),
        },
    );
    assert!(xml.contains(
        "<CopyObjectResult><ETag>\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"</ETag><LastModified>"
    ));
    let xml = round_trip(
        "CopyPartResult",
        &CopyPartResult {
            last_modified: "2015-12-12T00:37:53.000Z".into(),
            etag: "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"".into(),
        },
    );
    assert!(xml.contains("<CopyPartResult><LastModified>"));
}

#[test]
fn initiate_multipart() {
    round_trip(
        "InitiateMultipartUploadResult",
        &InitiateMultipartUploadResult {
            bucket: "b".into(),
            key: "dir%2Fk".into(),
            upload_id: "97BD544A65DB46F9A8735C93917A960F".into(),
            encoding_type: Some("url".into()),
        },
    );
    let xml = round_trip(
        "InitiateMultipartUploadResult",
        &InitiateMultipartUploadResult {
            bucket: "b".into(),
            key: "k".into(),
            upload_id: "U".into(),
            encoding_type: None,
        },
    );
    assert_eq!(
        xml,
        format!(
            "{DECL}<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>\
             <UploadId>U</UploadId></InitiateMultipartUploadResult>"
        )
    );
}

#[test]
fn complete_multipart_request() {
    // oss2 quotes the ETags; the quotes are kept as text for the caller to normalise.
    let body = "<?xml version='1.0' encoding='utf-8'?>\n<CompleteMultipartUpload>\
                <Part><PartNumber>1</PartNumber><ETag>\"4DE8075FB607DF4D13FBC480EA488EFA\"</ETag></Part>\
                <Part><PartNumber>2</PartNumber><ETag>&quot;AF947EC157726CEA88ED83B3C989063B&quot;</ETag></Part>\
                </CompleteMultipartUpload>";
    let parsed: CompleteMultipartUpload = from_xml(body).unwrap();
    assert_eq!(
        parsed.part,
        vec![
            CompletePart {
                part_number: 1,
                etag: "\"4DE8075FB607DF4D13FBC480EA488EFA\"".into()
            },
            CompletePart {
                part_number: 2,
                etag: "\"AF947EC157726CEA88ED83B3C989063B\"".into()
            },
        ]
    );
    assert_eq!(
        crate::etag::multipart(parsed.part.iter().map(|p| p.etag.as_str())),
        "\"1C787C506EABFB9B45EAAA8DB039F4B2-2\""
    );
    // Pretty-printed input parses the same.
    let pretty = "<CompleteMultipartUpload>\n  <Part>\n    <PartNumber>1</PartNumber>\n    \
                  <ETag>\"4DE8075FB607DF4D13FBC480EA488EFA\"</ETag>\n  </Part>\n\
                  </CompleteMultipartUpload>\n";
    let parsed: CompleteMultipartUpload = from_xml(pretty).unwrap();
    assert_eq!(parsed.part.len(), 1);
    assert_eq!(parsed.part[0].etag, "\"4DE8075FB607DF4D13FBC480EA488EFA\"");
    // An empty request has no parts.
    let parsed: CompleteMultipartUpload =
        from_xml("<CompleteMultipartUpload></CompleteMultipartUpload>").unwrap();
    assert!(parsed.part.is_empty());
    // A non-numeric part number is malformed.
    assert!(from_xml::<CompleteMultipartUpload>(
        "<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>\
         </CompleteMultipartUpload>"
    )
    .is_err());

    let xml = round_trip(
        "CompleteMultipartUpload",
        &CompleteMultipartUpload {
            part: vec![
                CompletePart {
                    part_number: 1,
                    etag: "\"A\"".into(),
                },
                CompletePart {
                    part_number: 2,
                    etag: "\"B\"".into(),
                },
            ],
        },
    );
    assert_eq!(xml.matches("<Part>").count(), 2);
}

#[test]
fn complete_multipart_result() {
    let xml = round_trip(
        "CompleteMultipartUploadResult",
        &CompleteMultipartUploadResult {
            encoding_type: Some("url".into()),
            location: "http://127.0.0.1:9000/b/k".into(),
            bucket: "b".into(),
            key: "k".into(),
            etag: "\"1C787C506EABFB9B45EAAA8DB039F4B2-2\"".into(),
        },
    );
    assert!(
        xml.contains("<CompleteMultipartUploadResult><EncodingType>url</EncodingType><Location>")
    );
}

#[test]
fn list_parts() {
    let part = |n: u32| PartSummary {
        part_number: n,
        last_modified: "2012-02-23T07:01:34.000Z".into(),
        etag: "\"3349DC700140D7F86A0784842780AAAA\"".into(),
        hash_crc64ecma: 11051210869376104954,
        size: 6291456,
    };
    let value = ListPartsResult {
        encoding_type: Some("url".into()),
        bucket: "b".into(),
        key: "k".into(),
        upload_id: "U".into(),
        storage_class: "Standard".into(),
        part_number_marker: 0,
        next_part_number_marker: 2,
        max_parts: 1000,
        is_truncated: false,
        client_encryption_key: Some("a2V5".into()),
        client_encryption_start: Some("c3RhcnQ=".into()),
        client_encryption_cek_alg: Some("AES/CTR/NoPadding".into()),
        client_encryption_wrap_alg: Some("RSA/NONE/PKCS1Padding".into()),
        client_encryption_data_size: Some(307200),
        client_encryption_part_size: Some(102400),
        part: vec![part(1), part(2)],
    };
    let xml = round_trip("ListPartsResult", &value);
    assert!(
        xml.contains("<HashCrc64ecma>11051210869376104954</HashCrc64ecma>"),
        "{xml}"
    );
    assert!(xml.contains("<ClientEncryptionDataSize>307200</ClientEncryptionDataSize>"));
    assert!(xml.contains("<NextPartNumberMarker>2</NextPartNumberMarker>"));
    assert_eq!(xml.matches("<Part>").count(), 2);

    let plain = ListPartsResult {
        client_encryption_key: None,
        client_encryption_start: None,
        client_encryption_cek_alg: None,
        client_encryption_wrap_alg: None,
        client_encryption_data_size: None,
        client_encryption_part_size: None,
        part: vec![],
        ..value
    };
    let xml = round_trip("ListPartsResult", &plain);
    assert!(!xml.contains("ClientEncryption"), "{xml}");
}

#[test]
fn list_multipart_uploads() {
    let value = ListMultipartUploadsResult {
        encoding_type: Some("url".into()),
        bucket: "b".into(),
        max_uploads: 1000,
        upload: vec![
            UploadSummary {
                key: "k1".into(),
                upload_id: "U1".into(),
                storage_class: "Standard".into(),
                initiated: "2012-02-23T04:18:23.000Z".into(),
            },
            UploadSummary {
                key: "k2".into(),
                upload_id: "U2".into(),
                storage_class: "Standard".into(),
                initiated: "2012-02-23T04:18:23.000Z".into(),
            },
        ],
        common_prefixes: vec![CommonPrefix {
            prefix: "d%2F".into(),
        }],
        ..Default::default()
    };
    let xml = round_trip("ListMultipartUploadsResult", &value);
    // Markers are always present, even when empty (oss2 requires them).
    assert!(xml.contains(
        "<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>\
         <NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker>"
    ));
    assert_eq!(xml.matches("<Upload>").count(), 2);
}

#[test]
fn server_side_encryption_rule() {
    let value = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
            sse_algorithm: "KMS".into(),
            kms_master_key_id: Some("0022012****".into()),
            kms_data_encryption: Some("SM4".into()),
        },
    };
    round_trip("ServerSideEncryptionRule", &value);
    let aes = ServerSideEncryptionRule {
        apply_server_side_encryption_by_default: ApplyServerSideEncryptionByDefault {
            sse_algorithm: "AES256".into(),
            kms_master_key_id: None,
            kms_data_encryption: None,
        },
    };
    let xml = round_trip("ServerSideEncryptionRule", &aes);
    assert_eq!(
        xml,
        format!(
            "{DECL}<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault>\
             <SSEAlgorithm>AES256</SSEAlgorithm></ApplyServerSideEncryptionByDefault>\
             </ServerSideEncryptionRule>"
        )
    );
}

#[test]
fn empty_kms_master_key_id_is_none() {
    // The documentation's example body.
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServerSideEncryptionRule>\n\
                <ApplyServerSideEncryptionByDefault>\n<SSEAlgorithm>SM4</SSEAlgorithm>\n\
                <KMSMasterKeyID></KMSMasterKeyID>\n</ApplyServerSideEncryptionByDefault>\n\
                </ServerSideEncryptionRule>";
    let parsed: ServerSideEncryptionRule = from_xml(body).unwrap();
    let rule = parsed.apply_server_side_encryption_by_default;
    assert_eq!(rule.sse_algorithm, "SM4");
    assert_eq!(rule.kms_master_key_id, None);
    assert_eq!(rule.kms_data_encryption, None);

    let parsed: ServerSideEncryptionRule = from_xml(
        "<ServerSideEncryptionRule><ApplyServerSideEncryptionByDefault>\
         <SSEAlgorithm>KMS</SSEAlgorithm><KMSMasterKeyID/><KMSDataEncryption>SM4\
         </KMSDataEncryption></ApplyServerSideEncryptionByDefault></ServerSideEncryptionRule>",
    )
    .unwrap();
    let rule = parsed.apply_server_side_encryption_by_default;
    assert_eq!(rule.kms_master_key_id, None);
    assert_eq!(rule.kms_data_encryption.as_deref(), Some("SM4"));
}

#[test]
fn dtd_and_entities_refused() {
    let bodies = [
        "<!DOCTYPE Delete [<!ENTITY a \"b\">]><Delete><Object><Key>&a;</Key></Object></Delete>",
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Delete SYSTEM \"http://example.com/x.dtd\">\
         <Delete><Object><Key>k</Key></Object></Delete>",
        "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\
         <Delete><Object><Key>&lol2;</Key></Object></Delete>",
        "<!ENTITY a \"b\"><Delete><Object><Key>&a;</Key></Object></Delete>",
        "<Delete><!ENTITY a \"b\"><Object><Key>k</Key></Object></Delete>",
    ];
    for body in bodies {
        assert!(from_xml::<Delete>(body).is_err(), "{body}");
    }
    // An undeclared entity is an error too, never silently dropped.
    assert!(from_xml::<Delete>("<Delete><Object><Key>&x;</Key></Object></Delete>").is_err());
}

#[test]
fn malformed_bodies_refused() {
    for body in [
        "",
        "not xml",
        "<Delete><Object><Key>k</Key></Object>",
        "<Delete><Object><Key>k</Object></Key></Delete>",
        "<Delete><Quiet>maybe</Quiet></Delete>",
    ] {
        assert!(from_xml::<Delete>(body).is_err(), "{body:?}");
    }
    // A byte order mark before the declaration is fine.
    let parsed: Delete =
        from_xml("\u{feff}<?xml version=\"1.0\"?><Delete><Quiet>true</Quiet></Delete>").unwrap();
    assert_eq!(parsed.quiet, Some(true));
    // Required element missing.
    assert!(from_xml::<CompletePart>("<Part><PartNumber>1</PartNumber></Part>").is_err());
}

#[test]
fn text_is_escaped() {
    let value = Owner {
        id: "<&>\"'".into(),
        display_name: "]]>".into(),
    };
    let xml = round_trip("Owner", &value);
    assert!(xml.contains("<ID>&lt;&amp;&gt;"), "{xml}");
    assert!(!xml.contains("<&"), "{xml}");
}

#[test]
fn versioning_configuration_and_version_listing() {
    let on = VersioningConfiguration {
        status: Some("Enabled".into()),
    };
    let xml = round_trip("VersioningConfiguration", &on);
    assert!(xml
        .ends_with("<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"));
    // A bucket never versioned: no Status at all (oss2 reads its absence as None).
    let never = round_trip(
        "VersioningConfiguration",
        &VersioningConfiguration::default(),
    );
    assert!(!never.contains("Status"), "{never}");

    let value = ListVersionsResult {
        name: "bkt".into(),
        prefix: "p/".into(),
        key_marker: String::new(),
        version_id_marker: String::new(),
        max_keys: 2,
        delimiter: "/".into(),
        encoding_type: Some("url".into()),
        is_truncated: true,
        next_key_marker: Some("p/b".into()),
        next_version_id_marker: Some("null".into()),
        entries: vec![
            VersionListing::Version(ObjectVersion {
                key: "p/a".into(),
                version_id: "0000018c5f2f3a1b0c2d3e4f".into(),
                is_latest: true,
                last_modified: "2024-01-02T03:04:05.000Z".into(),
                etag: "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"".into(),
                object_type: "Normal".into(),
                size: 11,
                storage_class: "Standard".into(),
                restore_info: None,
                owner: owner(),
            }),
            VersionListing::DeleteMarker(DeleteMarkerEntry {
                key: "p/b".into(),
                version_id: "null".into(),
                is_latest: true,
                last_modified: "2024-01-02T03:04:05.000Z".into(),
                owner: owner(),
            }),
            VersionListing::Version(ObjectVersion {
                key: "p/b".into(),
                version_id: "0000018c5f2f3a1b0c2d3e50".into(),
                is_latest: false,
                last_modified: "2024-01-02T03:04:05.000Z".into(),
                etag: "\"5EB63BBBE01EEED093CB22BB8F5ACDC3\"".into(),
                object_type: "Normal".into(),
                size: 3,
                storage_class: "Standard".into(),
                restore_info: None,
                owner: owner(),
            }),
        ],
        common_prefixes: vec![CommonPrefix {
            prefix: "p/c/".into(),
        }],
    };
    let xml = round_trip("ListVersionsResult", &value);
    assert!(
        xml.contains("<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>"),
        "{xml}"
    );
    assert!(xml.contains(
        "<NextKeyMarker>p/b</NextKeyMarker><NextVersionIdMarker>null</NextVersionIdMarker>"
    ));
    assert!(xml.contains("<Version><Key>p/a</Key><VersionId>0000018c5f2f3a1b0c2d3e4f</VersionId><IsLatest>true</IsLatest>"));
    assert!(xml.contains(
        "<DeleteMarker><Key>p/b</Key><VersionId>null</VersionId><IsLatest>true</IsLatest>"
    ));
    // Interleaved in listing order: p/a's version, p/b's marker, then p/b's older version.
    let a = xml.find("<Key>p/a</Key>").unwrap();
    let marker = xml.find("<DeleteMarker>").unwrap();
    let older = xml.find("0000018c5f2f3a1b0c2d3e50").unwrap();
    assert!(a < marker && marker < older, "{xml}");
}
