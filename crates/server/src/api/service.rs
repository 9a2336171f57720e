//! Service-level operations: ListBuckets, DescribeRegions.

use super::{time_of, xml_ok, ApiError, Ctx};
use crate::body::{blocking, Body};
use crate::store::BucketRecord;
use http::Response;
use ossvault_proto::limits::MAX_LIST_PAGE;
use ossvault_proto::time::iso8601;
use ossvault_proto::xml::{
    BucketSummary, Buckets, ListAllMyBucketsResult, RegionInfo, RegionInfoList,
};
use ossvault_proto::ErrorCode;

pub async fn list_buckets(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let prefix = ctx.query.non_empty("prefix").unwrap_or_default().to_owned();
    let marker = ctx.query.non_empty("marker").unwrap_or_default().to_owned();
    let max_keys = match ctx.query.non_empty("max-keys") {
        Some(v) => Some(
            v.parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIST_PAGE).contains(n))
                .ok_or_else(|| {
                    ApiError::invalid_argument("max-keys must be between 1 and 1000.")
                })?,
        ),
        None => None,
    };
    let limit = max_keys.unwrap_or(MAX_LIST_PAGE);
    let (p, m) = (prefix.clone(), marker.clone());
    let (buckets, truncated) =
        blocking(ctx.store(), move |s| s.list_buckets(&p, &m, limit)).await?;
    let next_marker = truncated
        .then(|| buckets.last().map(|b| b.name.clone()))
        .flatten();
    let paged = max_keys.is_some() || !prefix.is_empty() || !marker.is_empty();
    let result = ListAllMyBucketsResult {
        prefix: paged.then_some(prefix),
        marker: paged.then_some(marker),
        max_keys: max_keys.map(|n| n as u32),
        is_truncated: paged.then_some(truncated),
        next_marker,
        owner: ctx.state.owner(),
        buckets: Buckets {
            bucket: buckets.iter().map(|b| summary(&ctx, b)).collect(),
        },
    };
    Ok(xml_ok("ListAllMyBucketsResult", &result))
}

/// A bucket as listings describe it.
pub fn summary(ctx: &Ctx, b: &BucketRecord) -> BucketSummary {
    BucketSummary {
        creation_date: iso8601(time_of(b.created_ms)),
        extranet_endpoint: ctx.state.public_host.clone(),
        intranet_endpoint: ctx.state.public_host.clone(),
        location: format!("oss-{}", b.region),
        name: b.name.clone(),
        region: b.region.clone(),
        storage_class: b.storage_class.clone(),
    }
}

/// DescribeRegions: this server has one region, reached at its own endpoint. `?regions=NAME`
/// names one (`oss-` + region): this one, or NoSuchRegion.
pub async fn describe_regions(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let region = format!("oss-{}", ctx.state.config.region);
    if let Some(asked) = ctx.query.non_empty("regions") {
        if asked != region {
            return Err(ApiError::new(ErrorCode::NoSuchRegion));
        }
    }
    let host = ctx.state.public_host.clone();
    let list = RegionInfoList {
        region_info: vec![RegionInfo {
            region,
            internet_endpoint: host.clone(),
            internal_endpoint: host.clone(),
            accelerate_endpoint: host,
        }],
    };
    Ok(xml_ok("RegionInfoList", &list))
}
