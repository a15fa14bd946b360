//! The four gateway operations, each a batch: items checked here first (a bad one gets its own error and is
//! not sent), sent in calls of at most [`MAX_BATCH_ITEMS`](super::MAX_BATCH_ITEMS), answered one result per
//! item in the caller's order.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use super::{MAX_BATCH_ITEMS, Storage, path};
use crate::core::Core;
use crate::core::transport::{As, RawResult};
use crate::raw::storage::Client;
use crate::raw::storage::types::{
    CopyRequest, DownloadInfoItem, ItemError, ObjectItem, ObjectRef, UploadInfoItem, UploadInfoRequest,
};
use crate::{Error, ErrorCode, Secret, ServiceError};

/// One result per item of a batch call, in the order the items were given.
#[derive(Debug)]
#[non_exhaustive]
pub struct FileResults<T> {
    /// Each item's outcome: its value, or its own error ([`Error::InvalidInput`] for an item refused before
    /// sending, [`Error::Service`] with the service's code, e.g. `OBJECT_NOT_EXIST`, for one it refused).
    pub items: Vec<Result<T, Error>>,
    /// The request id of each gateway call made (one per [`MAX_BATCH_ITEMS`] items).
    pub request_ids: Vec<String>,
}

impl<T> FileResults<T> {
    /// Every item's value, or the first item error.
    pub fn all_ok(self) -> Result<Vec<T>, Error> {
        self.items.into_iter().collect()
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are no items.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items' outcomes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Result<T, Error>> {
        self.items.iter()
    }

    fn single(self) -> Result<T, Error> {
        let operation = "storage";
        self.items.into_iter().next().unwrap_or(Err(Error::Decode {
            operation,
            status: 200,
            request_id: None,
            body_len: 0,
            reason: "no item in the reply".to_owned(),
        }))
    }
}

impl<T> IntoIterator for FileResults<T> {
    type Item = Result<T, Error>;
    type IntoIter = std::vec::IntoIter<Result<T, Error>>;

    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// A temporary download URL ([`Storage::get_temp_file_url`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TempFileUrl {
    /// The file id.
    pub file_id: String,
    /// The signed URL: anyone holding it can download the file until it expires. Its path is the cloud path
    /// as written (it may hold spaces or unicode): prefer [`url_encoded`](Self::url_encoded) where a valid URL
    /// is needed.
    pub url: String,
    /// The same URL with its path percent-encoded, when the service sent it.
    pub url_encoded: Option<String>,
}

/// A deleted file ([`Storage::delete_file`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeletedFile {
    /// The file id.
    pub file_id: String,
}

/// A copied (or moved) file ([`Storage::copy_file`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CopiedFile {
    /// The destination's file id.
    pub file_id: String,
}

/// Where and how to upload a file yourself ([`Storage::get_upload_metadata`]): `PUT {url}` with the raw bytes
/// and the headers `Authorization: {authorization}`, `X-Cos-Security-Token: {token}`,
/// `X-Cos-Meta-Fileid: {cos_file_id}`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct UploadMetadata {
    /// The file id the object has once uploaded.
    pub file_id: String,
    /// Where to `PUT` the bytes.
    pub url: String,
    /// The object store's signature for the upload (a credential until it expires).
    pub authorization: Secret,
    /// The `X-Cos-Security-Token` of the upload (a credential until it expires).
    pub token: Secret,
    /// The `X-Cos-Meta-Fileid` header of the upload.
    pub cos_file_id: String,
    /// The object's download URL, when the service sent one.
    pub download_url: Option<String>,
    /// The request id of the gateway call.
    pub request_id: Option<String>,
}

/// One copy (or move) for [`Storage::copy_file`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct CopyFile {
    src: String,
    dst: String,
    overwrite: bool,
    remove_original: bool,
}

impl CopyFile {
    /// Copies `src` to `dst`: cloud paths (`dir/name.ext`) or file ids (`cloud://...`, sent as their path).
    pub fn new(src: impl Into<String>, dst: impl Into<String>) -> Self {
        Self { src: src.into(), dst: dst.into(), overwrite: false, remove_original: false }
    }

    /// Replaces an existing destination (without it, one is the item's `OBJECT_ALREADY_EXIST`).
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// Deletes the source after copying it: a move.
    pub fn remove_original(mut self, remove: bool) -> Self {
        self.remove_original = remove;
        self
    }

    fn checked(&self) -> Result<CopyRequest, Error> {
        let src = path::path_or_file_id("src", &self.src)?;
        let dst = path::path_or_file_id("dst", &self.dst)?;
        if src == dst {
            return Err(Error::invalid("dst", "the destination is the source"));
        }
        Ok(CopyRequest {
            src_path: src.parse().map_err(|_| Error::invalid("src", "not a cloud path"))?,
            dst_path: dst.parse().map_err(|_| Error::invalid("dst", "not a cloud path"))?,
            overwrite: Some(self.overwrite),
            remove_original: Some(self.remove_original),
        })
    }
}

impl Storage {
    /// Temporary download URLs of files (`cloud://...` ids). The JS SDK's `getTempFileURL`; the service
    /// chooses how long they last (it takes no expiry).
    pub async fn get_temp_file_url<I, S>(&self, file_ids: I) -> Result<FileResults<TempFileUrl>, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items = checked_ids(file_ids)?;
        run::<DownloadInfo>(&self.core, items).await
    }

    /// Deletes files (`cloud://...` ids). The JS SDK's `deleteFile`.
    pub async fn delete_file<I, S>(&self, file_ids: I) -> Result<FileResults<DeletedFile>, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let items = checked_ids(file_ids)?;
        run::<Delete>(&self.core, items).await
    }

    /// Copies (or moves) files. The JS SDK's `copyFile`.
    ///
    /// ```no_run
    /// # async fn demo(app: cloudbase::CloudBase) -> Result<(), cloudbase::Error> {
    /// use cloudbase::storage::CopyFile;
    /// let copies = app
    ///     .storage()
    ///     .copy_file([CopyFile::new("a.txt", "backup/a.txt").overwrite(true)])
    ///     .await?;
    /// for copy in copies {
    ///     match copy {
    ///         Ok(copied) => println!("copied to {}", copied.file_id),
    ///         Err(e) => println!("not copied: {e}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn copy_file(
        &self,
        copies: impl IntoIterator<Item = CopyFile>,
    ) -> Result<FileResults<CopiedFile>, Error> {
        let items: Vec<_> = copies.into_iter().map(|copy| copy.checked()).collect();
        if items.is_empty() {
            return Err(Error::invalid("copies", "no file to copy"));
        }
        run::<Copy>(&self.core, items).await
    }

    /// Moves one file: a copy that deletes its source. `OBJECT_ALREADY_EXIST` when `dst` exists.
    pub async fn move_file(&self, src: impl Into<String>, dst: impl Into<String>) -> Result<CopiedFile, Error> {
        self.copy_file([CopyFile::new(src, dst).remove_original(true)]).await?.single()
    }

    /// Where and how to upload to `cloud_path` yourself (see [`UploadMetadata`]). The JS SDK's
    /// `getUploadMetadata`.
    pub async fn get_upload_metadata(&self, cloud_path: impl AsRef<str>) -> Result<UploadMetadata, Error> {
        upload_info(&self.core, cloud_path.as_ref(), HashMap::new()).await
    }
}

/// Asks for the upload information of one path, the signed headers named.
pub(crate) async fn upload_info(
    core: &Arc<Core>,
    cloud_path: &str,
    signed_header: HashMap<String, Vec<String>>,
) -> Result<UploadMetadata, Error> {
    path::cloud_path("cloud_path", cloud_path)?;
    let object_id = cloud_path.parse().map_err(|_| Error::invalid("cloud_path", "not a cloud path"))?;
    run::<UploadInfo>(core, vec![Ok(UploadInfoRequest { object_id, signed_header })]).await?.single()
}

fn checked_ids<I, S>(file_ids: I) -> Result<Vec<Result<ObjectRef, Error>>, Error>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let items: Vec<_> = file_ids
        .into_iter()
        .map(|id| {
            let id = id.as_ref();
            path::file_id("file_id", id)?;
            let cloud_object_id = id.parse().map_err(|_| Error::invalid("file_id", "not a file id"))?;
            Ok(ObjectRef { cloud_object_id })
        })
        .collect();
    if items.is_empty() {
        return Err(Error::invalid("file_ids", "no file id given"));
    }
    Ok(items)
}

/// One of the four operations: its request item, its reply item and how a reply item becomes a result.
trait Operation {
    type Request: Sync;
    type Reply;
    type Output;
    const ID: &'static str;
    // The generated client takes `&Vec`.
    #[allow(clippy::ptr_arg)]
    fn send<'a>(client: &'a Client, body: &'a Vec<Self::Request>) -> impl Future<Output = RawResult<Vec<Self::Reply>>>;
    fn output(reply: Self::Reply, request_id: Option<&str>) -> Result<Self::Output, Error>;
}

struct UploadInfo;
struct DownloadInfo;
struct Delete;
struct Copy;

impl Operation for UploadInfo {
    type Request = UploadInfoRequest;
    type Reply = UploadInfoItem;
    type Output = UploadMetadata;
    const ID: &'static str = "get_objects_upload_info";

    fn send<'a>(client: &'a Client, body: &'a Vec<Self::Request>) -> impl Future<Output = RawResult<Vec<Self::Reply>>> {
        client.get_objects_upload_info(body)
    }

    fn output(reply: UploadInfoItem, request_id: Option<&str>) -> Result<UploadMetadata, Error> {
        match reply {
            UploadInfoItem::ItemError(e) => Err(item_error(e, Self::ID, request_id)),
            UploadInfoItem::UploadInfo(info) => Ok(UploadMetadata {
                file_id: info.cloud_object_id,
                url: info.upload_url,
                authorization: Secret::new(info.authorization),
                token: Secret::new(info.token),
                cos_file_id: info.cloud_object_meta,
                download_url: info.download_url,
                request_id: request_id.map(str::to_owned),
            }),
        }
    }
}

impl Operation for DownloadInfo {
    type Request = ObjectRef;
    type Reply = DownloadInfoItem;
    type Output = TempFileUrl;
    const ID: &'static str = "get_objects_download_info";

    fn send<'a>(client: &'a Client, body: &'a Vec<Self::Request>) -> impl Future<Output = RawResult<Vec<Self::Reply>>> {
        client.get_objects_download_info(body)
    }

    fn output(reply: DownloadInfoItem, request_id: Option<&str>) -> Result<TempFileUrl, Error> {
        match reply {
            DownloadInfoItem::ItemError(e) => Err(item_error(e, Self::ID, request_id)),
            DownloadInfoItem::DownloadInfo(info) => Ok(TempFileUrl {
                file_id: info.cloud_object_id,
                url: info.download_url,
                url_encoded: info.download_url_encoded,
            }),
        }
    }
}

impl Operation for Delete {
    type Request = ObjectRef;
    type Reply = ObjectItem;
    type Output = DeletedFile;
    const ID: &'static str = "delete_objects";

    fn send<'a>(client: &'a Client, body: &'a Vec<Self::Request>) -> impl Future<Output = RawResult<Vec<Self::Reply>>> {
        client.delete_objects(body)
    }

    fn output(reply: ObjectItem, request_id: Option<&str>) -> Result<DeletedFile, Error> {
        object_item(reply, Self::ID, request_id).map(|file_id| DeletedFile { file_id })
    }
}

impl Operation for Copy {
    type Request = CopyRequest;
    type Reply = ObjectItem;
    type Output = CopiedFile;
    const ID: &'static str = "copy_objects";

    fn send<'a>(client: &'a Client, body: &'a Vec<Self::Request>) -> impl Future<Output = RawResult<Vec<Self::Reply>>> {
        client.copy_objects(body)
    }

    fn output(reply: ObjectItem, request_id: Option<&str>) -> Result<CopiedFile, Error> {
        object_item(reply, Self::ID, request_id).map(|file_id| CopiedFile { file_id })
    }
}

fn item_error(e: ItemError, operation: &'static str, request_id: Option<&str>) -> Error {
    Error::Service(ServiceError {
        code: ErrorCode::parse(&e.code),
        numeric_code: None,
        description: e.message,
        status: Some(200),
        request_id: request_id.map(str::to_owned),
        operation,
        retry_after: None,
    })
}

fn object_item(reply: ObjectItem, operation: &'static str, request_id: Option<&str>) -> Result<String, Error> {
    match (reply.code, reply.cloud_object_id) {
        (Some(code), cloud_object_id) => Err(item_error(
            ItemError { code, message: reply.message, cloud_object_id, object_id: None },
            operation,
            request_id,
        )),
        (None, Some(file_id)) => Ok(file_id),
        (None, None) => Err(Error::Decode {
            operation,
            status: 200,
            request_id: request_id.map(str::to_owned),
            body_len: 0,
            reason: "an item has neither `cloudObjectId` nor `code`".to_owned(),
        }),
    }
}

/// Sends the items that passed their checks, in calls of at most [`MAX_BATCH_ITEMS`], and puts each answer
/// back in its item's place.
async fn run<O: Operation>(
    core: &Arc<Core>,
    items: Vec<Result<O::Request, Error>>,
) -> Result<FileResults<O::Output>, Error> {
    let mut results: Vec<Option<Result<O::Output, Error>>> = Vec::with_capacity(items.len());
    let mut pending: Vec<(usize, O::Request)> = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Ok(request) => {
                results.push(None);
                pending.push((index, request));
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let mut request_ids = Vec::new();
    let mut pending = pending.into_iter().peekable();
    while pending.peek().is_some() {
        let (indices, body): (Vec<usize>, Vec<O::Request>) = pending.by_ref().take(MAX_BATCH_ITEMS).unzip();
        let (replies, request_id) = send::<O>(core, &body).await?;
        if replies.len() != body.len() {
            return Err(Error::Decode {
                operation: O::ID,
                status: 200,
                request_id,
                body_len: 0,
                reason: format!("{} items answered for {} sent", replies.len(), body.len()),
            });
        }
        for (index, reply) in indices.into_iter().zip(replies) {
            results[index] = Some(O::output(reply, request_id.as_deref()));
        }
        request_ids.extend(request_id);
    }
    let items = results.into_iter().map(|r| r.unwrap_or_else(|| Err(Error::Cancelled("unanswered item")))).collect();
    Ok(FileResults { items, request_ids })
}

async fn send<O: Operation>(
    core: &Arc<Core>,
    body: &Vec<O::Request>,
) -> Result<(Vec<O::Reply>, Option<String>), Error> {
    core.with_session(false, true, |who: As, _| async move {
        let send = |client: Client| async move { O::send(&client, body).await };
        let attempt = core.send(O::ID, &who, None, &send).await;
        Ok((attempt.result?, attempt.request_id))
    })
    .await
}
