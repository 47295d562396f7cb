// A Wechaty puppet-service peer for zhoubao's WeChat channel tests.
//
// It serves the real puppet-service gRPC API (wechaty-puppet-service's PuppetServer) in front
// of wechaty-puppet-mock, on 127.0.0.1 without TLS, and offers a small HTTP control port so
// the tests can make a contact talk to the bot and read what the bot sent.
//
//   node peer.mjs --grpc-port 8788 --http-port 8789 --token SECRET
//   (or WECHAT_PEER_GRPC_PORT, WECHAT_PEER_HTTP_PORT, WECHAT_PEER_TOKEN)
//
// Control port (JSON):
//   POST /say    {from, text, room?, mention?}  a contact (id or name) says text to the bot,
//                or in a room; mention=true puts "@<bot name>\u2005" in front and lists the bot
//                in the message's mentions. Answers {id}; 409 while the bot is not logged in.
//   GET  /sent   what the bot sent: [{id, to, room, text, file: {name, size, sha256} | null}]
//   POST /clear  forget what the bot sent
//   GET  /health {ok, loggedIn, selfId, contacts, room}
//
// Prints one line `WECHAT_PEER_READY {"grpc": PORT, "http": PORT}` when both ports listen.
// Stops on SIGTERM / SIGINT.

import { createHash } from 'node:crypto'
import http from 'node:http'
import process from 'node:process'

import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'

const argValue = (name) => {
  const index = process.argv.indexOf(`--${name}`)
  return index >= 0 ? process.argv[index + 1] : undefined
}

const GRPC_PORT = Number(argValue('grpc-port') ?? process.env.WECHAT_PEER_GRPC_PORT ?? 8788)
const HTTP_PORT = Number(argValue('http-port') ?? process.env.WECHAT_PEER_HTTP_PORT ?? 8789)
const TOKEN = argValue('token') ?? process.env.WECHAT_PEER_TOKEN ?? 'zhoubao-test-token'

// The fixed world the tests talk about. Mock room ids must contain `@`: the mock tells rooms
// from contacts by it when the bot sends.
const BOT = { id: 'wxid_zhoubao_bot', name: '周报助手' }
const CONTACTS = [
  { id: 'wxid_shangwu_wang', name: '商务厅小王' },
  { id: 'wxid_zhujian_zhang', name: '住建厅小张' },
  { id: 'wxid_editor_chen', name: '编辑老陈' },
  { id: 'wxid_passerby', name: '路人甲' }, // not bound: the stranger of the stories
]
const ROOM = { id: '20220914-windows@chatroom', topic: '政务大厅窗口群' }

const mocker = new mock.Mocker()

const contactPayload = (person) => ({
  id: person.id,
  name: person.name,
  alias: '',
  avatar: '',
  gender: 0,
  phone: [],
  type: 1, // Individual
  friend: true,
})

// Runs every time the client (re)starts the remote puppet: load what exists, create the rest.
const loadOrCreateContact = (person) =>
  mocker.cacheContactPayload.has(person.id)
    ? mocker.ContactMock.load(person.id)
    : mocker.createContact(contactPayload(person))

const environment = () => (m) => {
  const bot = loadOrCreateContact(BOT)
  CONTACTS.forEach(loadOrCreateContact)
  if (!m.cacheRoomPayload.has(ROOM.id)) {
    m.createRoom({
      id: ROOM.id,
      topic: ROOM.topic,
      ownerId: BOT.id,
      adminIdList: [BOT.id],
      memberIdList: [BOT.id, ...CONTACTS.map((c) => c.id)],
      avatar: '',
    })
  }
  m.login(bot)
  return () => {}
}

mocker.use(environment())

const puppet = new PuppetMock({ mocker })

// What the bot sent, in order.
const sent = []
puppet.on('message', ({ messageId }) => {
  let payload
  try {
    payload = mocker.messagePayload(messageId)
  } catch {
    return
  }
  if (payload.talkerId !== BOT.id) {
    return
  }
  const entry = {
    id: messageId,
    to: payload.roomId ? payload.roomId : payload.listenerId,
    room: payload.roomId ?? null,
    text: payload.text ?? null,
    file: null,
  }
  const box = mocker.cacheFileBoxPayload.get(messageId)
  if (box) {
    const content = typeof box.base64 === 'string' ? Buffer.from(box.base64, 'base64') : null
    entry.file = {
      name: box.name,
      size: content ? content.length : (box.size ?? -1),
      sha256: content ? createHash('sha256').update(content).digest('hex') : null,
    }
  }
  sent.push(entry)
})

const findContact = (who) => {
  const person = [BOT, ...CONTACTS].find((c) => c.id === who || c.name === who)
  return person && mocker.cacheContactPayload.has(person.id)
    ? mocker.ContactMock.load(person.id)
    : undefined
}

const readJson = (request) =>
  new Promise((resolve, reject) => {
    const chunks = []
    request.on('data', (chunk) => chunks.push(chunk))
    request.on('end', () => {
      try {
        const body = Buffer.concat(chunks).toString('utf8')
        resolve(body ? JSON.parse(body) : {})
      } catch (error) {
        reject(error)
      }
    })
    request.on('error', reject)
  })

const answer = (response, status, body) => {
  const data = Buffer.from(JSON.stringify(body), 'utf8')
  response.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': data.length,
  })
  response.end(data)
}

const say = (body) => {
  if (!puppet.isLoggedIn) {
    return [409, { error: 'the bot is not logged in (no client has started the puppet)' }]
  }
  const talker = findContact(body.from)
  if (!talker) {
    return [404, { error: `unknown contact: ${body.from}` }]
  }
  if (typeof body.text !== 'string') {
    return [400, { error: 'text must be a string' }]
  }
  const before = new Set(mocker.cacheMessagePayload.keys())
  if (body.room) {
    if (!mocker.cacheRoomPayload.has(body.room)) {
      return [404, { error: `unknown room: ${body.room}` }]
    }
    const room = mocker.RoomMock.load(body.room)
    const bot = mocker.ContactMock.load(BOT.id)
    const text = body.mention ? `@${BOT.name}\u2005${body.text}` : body.text
    talker.say(text, body.mention ? [bot] : []).to(room)
  } else {
    talker.say(body.text).to(mocker.ContactMock.load(BOT.id))
  }
  const id = [...mocker.cacheMessagePayload.keys()].find((key) => !before.has(key))
  return [200, { id }]
}

const control = http.createServer(async (request, response) => {
  try {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    if (request.method === 'GET' && url.pathname === '/health') {
      return answer(response, 200, {
        ok: true,
        loggedIn: puppet.isLoggedIn,
        selfId: BOT.id,
        selfName: BOT.name,
        contacts: CONTACTS,
        room: ROOM,
      })
    }
    if (request.method === 'GET' && url.pathname === '/sent') {
      return answer(response, 200, sent)
    }
    if (request.method === 'POST' && url.pathname === '/clear') {
      sent.length = 0
      return answer(response, 200, { ok: true })
    }
    if (request.method === 'POST' && url.pathname === '/say') {
      const [status, body] = say(await readJson(request))
      return answer(response, status, body)
    }
    return answer(response, 404, { error: 'not found' })
  } catch (error) {
    return answer(response, 500, { error: String(error) })
  }
})

const server = new PuppetServer({
  endpoint: `127.0.0.1:${GRPC_PORT}`,
  puppet,
  token: TOKEN,
  tls: { disable: true },
})

await server.start()
await new Promise((resolve) => control.listen(HTTP_PORT, '127.0.0.1', resolve))
console.log(`WECHAT_PEER_READY ${JSON.stringify({ grpc: GRPC_PORT, http: HTTP_PORT })}`)

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  control.close()
  const timer = setTimeout(() => process.exit(0), 3000)
  try {
    await server.stop()
    if (puppet.state.active()) await puppet.stop()
  } catch {
    // exiting anyway
  }
  clearTimeout(timer)
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
