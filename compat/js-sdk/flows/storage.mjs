// The storage flows (classic API on the gateway, reference section 7), signed in anonymously.

import { assert, same } from '../lib/checks.mjs'
import { ENV_ID, HARNESS_HEADER } from '../lib/config.mjs'
import { realFetch, sdkRequests } from '../lib/guard.mjs'
import { EMU, app, control } from '../lib/harness.mjs'
import { UUID_SHAPE, signInAnon } from './common.mjs'

const BUCKET = `${ENV_ID}-1250000000` // the emulator's bucket; a file id is cloud://{env}.{bucket}/{key}
const fileIdOf = (key) => `cloud://${ENV_ID}.${BUCKET}/${key}`
async function fetchBytes(url) {
  const res = await realFetch(url, { headers: { [HARNESS_HEADER]: '1' }, signal: AbortSignal.timeout(5_000) })
  return { status: res.status, type: res.headers.get('content-type'), bytes: Buffer.from(await res.arrayBuffer()) }
}
export let dataMark = null // {sdk, emu}: where the storage / MySQL / model flows start in sdkRequests and /_emulator/requests

export const storageFlows = [
  [
    'storage: uploadFile -> cloud:// fileID; getTempFileURL (hit + OBJECT_NOT_EXIST); temp URL bytes; downloadFile',
    async () => {
      dataMark = { sdk: sdkRequests.length, emu: (await control('GET', '/_emulator/requests')).length }
      await signInAnon()
      const content = Buffer.from('hello from js')
      const fileID = fileIdOf('compat/hello.txt')
      const up = await app.uploadFile({ cloudPath: 'compat/hello.txt', fileContent: content })
      assert(up?.fileID === fileID && up.fileID.startsWith('cloud://'), 'uploadFile fileID', up)
      assert(String(up.download_url).startsWith(`${EMU}/_cos/${BUCKET}/compat/hello.txt?sign=`), 'uploadFile download_url', up)
      assert(UUID_SHAPE.test(up.requestId), 'uploadFile requestId (the SDK-made id)', up)
      const missingID = fileIdOf('compat/missing.txt')
      const t = await app.getTempFileURL({ fileList: [fileID, missingID] })
      assert(Array.isArray(t?.fileList) && t.fileList.length === 2, 'getTempFileURL fileList', t)
      const [hit, miss] = t.fileList
      assert(hit.code === 'SUCCESS' && hit.fileID === fileID && String(hit.tempFileURL).startsWith(`${EMU}/_cos/${BUCKET}/compat/hello.txt?`), 'getTempFileURL first item', hit)
      assert(hit.download_url === hit.tempFileURL, 'getTempFileURL download_url / tempFileURL differ', hit)
      assert(miss.code === 'OBJECT_NOT_EXIST' && miss.fileID === missingID && !miss.tempFileURL, 'getTempFileURL missing item', miss)
      const got = await fetchBytes(hit.tempFileURL) // the real fetch: no SDK header, no token
      assert(got.status === 200 && got.bytes.equals(content), 'GET tempFileURL bytes', { status: got.status, body: got.bytes.toString() })
      assert(got.type === 'text/plain', 'stored content type (the SDK signs text/plain for .txt)', got.type)
      const forged = await fetchBytes(hit.tempFileURL.replace(/sign=[0-9a-f]/, (m) => (m.endsWith('0') ? 'sign=1' : 'sign=0')))
      assert(forged.status === 403, 'a temp URL with a changed signature was served', forged.status)
      const d = await app.downloadFile({ fileID })
      assert(d?.statusCode === 200 && Buffer.isBuffer(d.fileContent) && d.fileContent.equals(content), 'downloadFile fileContent', d && { statusCode: d.statusCode, fileContent: String(d.fileContent) })
      return `${fileID}; missing -> ${miss.code}; temp URL ${got.bytes.length} bytes ${got.type}; forged sign -> ${forged.status}; downloadFile ok`
    },
  ],
  [
    'storage: copyFile (cloud path and file id sources, overwrite false -> OBJECT_ALREADY_EXIST, move); deleteFile -> SUCCESS, then OBJECT_NOT_EXIST',
    async () => {
      await signInAnon()
      const content = Buffer.from('hello from js')
      const fileID = fileIdOf('compat/hello.txt')
      // SDK docs (core.d.ts): srcPath / dstPath are cloud paths ("foo/bar.jpg"); the emulator also takes a file id.
      const c = await app.copyFile({
        fileList: [
          { srcPath: 'compat/hello.txt', dstPath: 'compat/copy.txt', overwrite: true, removeOriginal: false },
          { srcPath: fileID, dstPath: 'compat/copy-by-id.txt', overwrite: true, removeOriginal: false },
          { srcPath: 'compat/hello.txt', dstPath: 'compat/copy.txt', overwrite: false, removeOriginal: false },
        ],
      })
      assert(Array.isArray(c?.fileList) && c.fileList.length === 3, 'copyFile fileList', c)
      same(c.fileList.map((x) => [x.code, x.fileID]), [
        ['SUCCESS', fileIdOf('compat/copy.txt')],
        ['SUCCESS', fileIdOf('compat/copy-by-id.txt')],
        ['OBJECT_ALREADY_EXIST', undefined],
      ], 'copyFile items (code, fileID)')
      const mv = await app.copyFile({ fileList: [{ srcPath: 'compat/copy-by-id.txt', dstPath: 'compat/moved.txt', overwrite: true, removeOriginal: true }] })
      same(mv?.fileList?.map((x) => [x.code, x.fileID]), [['SUCCESS', fileIdOf('compat/moved.txt')]], 'copyFile with removeOriginal (move)')
      for (const key of ['compat/copy.txt', 'compat/moved.txt']) {
        const d = await app.downloadFile({ fileID: fileIdOf(key) })
        assert(d?.fileContent?.equals(content), `downloadFile ${key}`, d && String(d.fileContent))
      }
      const gone = await app.getTempFileURL({ fileList: [fileIdOf('compat/copy-by-id.txt')] })
      assert(gone.fileList[0].code === 'OBJECT_NOT_EXIST', 'the moved source still exists', gone.fileList[0])
      const ids = [fileID, fileIdOf('compat/copy.txt'), fileIdOf('compat/moved.txt')]
      const del = await app.deleteFile({ fileList: ids })
      same(del?.fileList?.map((x) => [x.code, x.fileID]), ids.map((id) => ['SUCCESS', id]), 'deleteFile items (code, fileID)')
      const after = await app.getTempFileURL({ fileList: ids })
      same(after.fileList.map((x) => x.code), ['OBJECT_NOT_EXIST', 'OBJECT_NOT_EXIST', 'OBJECT_NOT_EXIST'], 'getTempFileURL after deleteFile')
      return `copies ${c.fileList.map((x) => x.code).join(', ')}; move ${mv.fileList[0].code}; delete ${del.fileList.map((x) => x.code).join(', ')}`
    },
  ],
  [
    'storage: getUploadMetadata({cloudPath}) -> url, authorization, token, fileId that a plain PUT can use',
    async () => {
      await signInAnon()
      const m = await app.getUploadMetadata({ cloudPath: 'compat/meta.txt' })
      const d = m?.data || {}
      assert(d.url === `${EMU}/_cos/${BUCKET}/compat/meta.txt`, 'data.url', d)
      assert(String(d.authorization).startsWith('q-sign-algorithm=sha1&q-ak=') && /q-signature=[0-9a-f]+$/.test(d.authorization), 'data.authorization', d)
      assert(typeof d.token === 'string' && d.token.length > 0, 'data.token', d)
      assert(d.fileId === fileIdOf('compat/meta.txt') && typeof d.cosFileId === 'string' && d.cosFileId, 'data.fileId / cosFileId', d)
      assert(m.statusCode === 200 && UUID_SHAPE.test(m.requestId), 'statusCode / requestId', { statusCode: m.statusCode, requestId: m.requestId })
      // The metadata is what a browser form or another client uploads with: use it with the real fetch.
      const body = Buffer.from('uploaded with getUploadMetadata')
      const put = await realFetch(d.url, {
        method: 'PUT',
        headers: { authorization: d.authorization, 'x-cos-security-token': d.token, 'x-cos-meta-fileid': d.cosFileId, 'content-type': 'text/plain', [HARNESS_HEADER]: '1' },
        body,
        signal: AbortSignal.timeout(5_000),
      })
      assert(put.status === 200, 'PUT with the metadata', { status: put.status, body: await put.text() })
      const back = await app.downloadFile({ fileID: d.fileId })
      assert(back?.fileContent?.equals(body), 'downloadFile of the metadata upload', back && String(back.fileContent))
      const del = await app.deleteFile({ fileList: [d.fileId] })
      assert(del.fileList[0].code === 'SUCCESS', 'deleteFile', del)
      return `url ${d.url.replace(EMU, '')}, fileId ${d.fileId}; PUT -> ${put.status}`
    },
  ],
  [
    'storage: a key with non-ASCII and a space: uploadFile, getTempFileURL + fetch, downloadFile',
    async () => {
      await signInAnon()
      const key = 'compat/你好 world.txt'
      const content = Buffer.from('nǐ hǎo')
      const up = await app.uploadFile({ cloudPath: key, fileContent: content })
      assert(up?.fileID === fileIdOf(key), 'uploadFile fileID', up)
      const t = await app.getTempFileURL({ fileList: [up.fileID] })
      const item = t.fileList[0]
      assert(item.code === 'SUCCESS', 'getTempFileURL', item)
      const got = await fetchBytes(item.tempFileURL)
      assert(got.status === 200 && got.bytes.equals(content), 'GET tempFileURL', { status: got.status, body: got.bytes.toString() })
      // downloadUrl holds the key as written; the SDK sends GET encodeURI(downloadUrl), which must reach the object.
      const d = await app.downloadFile({ fileID: up.fileID })
      assert(d?.fileContent?.equals(content), 'downloadFile content', d && String(d.fileContent))
      const how = 'downloadFile ok'
      const del = await app.deleteFile({ fileList: [up.fileID] })
      assert(del.fileList[0].code === 'SUCCESS', 'deleteFile', del)
      return `${up.fileID}: temp URL ok; ${how}`
    },
  ],
]
