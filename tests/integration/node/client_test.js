// crdtd driven by ioredis, a Node.js Redis client nobody here wrote, through
// its ordinary API: strings, counters, sets, hashes, expiry, pipelines and
// MULTI, on two replicas.  Run by tests/integration/test_node_client.py, which starts the
// daemons and passes their client ports in CRDTD_PORTS ("portA,portB").
'use strict';

const assert = require('assert');
const Redis = require('ioredis');

const [portA, portB] = (process.env.CRDTD_PORTS || '').split(',').map(Number);

function connect(port) {
  // no reconnects: a dropped connection is a failure here, not a retry
  return new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0,
                     retryStrategy: () => null, connectTimeout: 10000 });
}

// Wait, at most about 20 s, until fn() resolves to want.
async function eventually(fn, want, what) {
  let have;
  for (let i = 0; i < 1000; i++) {
    have = await fn();
    try {
      assert.deepStrictEqual(have, want);
      return;
    } catch (e) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  assert.fail(`${what}: want ${JSON.stringify(want)}, have ${JSON.stringify(have)}`);
}

const sorted = async (p) => (await p).sort();

async function strings(a, b) {
  assert.strictEqual(await a.set('n:s', 'hello'), 'OK');
  assert.strictEqual(await a.get('n:s'), 'hello');
  assert.strictEqual(await a.get('n:missing'), null);
  assert.strictEqual(await a.mset({ 'n:m1': 'one', 'n:m2': 'two' }), 'OK');
  assert.deepStrictEqual(await a.mget('n:m1', 'n:m2', 'n:missing'), ['one', 'two', null]);
  assert.strictEqual(await a.getset('n:s', 'bye'), 'hello');
  assert.strictEqual(await a.type('n:s'), 'string');
  assert.strictEqual(await a.call('CRDT.TYPE', 'n:s'), 'lwwreg');
  assert.strictEqual(await a.exists('n:s', 'n:m1', 'n:missing'), 2);
  const buf = Buffer.from([0, 1, 2, 255, 13, 10]);
  assert.strictEqual(await a.set('n:bin', buf), 'OK');
  assert.deepStrictEqual(await a.getBuffer('n:bin'), buf);
  await eventually(() => b.mget('n:s', 'n:m1', 'n:m2'), ['bye', 'one', 'two'], 'strings on b');
}

async function counters(a, b) {
  assert.strictEqual(await a.incr('n:c'), 1);
  assert.strictEqual(await a.incrby('n:c', 41), 42);
  // on the other replica, whatever of a's it has seen yet: both count
  assert.strictEqual(typeof (await b.decrby('n:c', 2)), 'number');
  assert.strictEqual(typeof (await b.decr('n:c')), 'number');
  await eventually(() => a.get('n:c'), '39', 'counter on a');
  await eventually(() => b.get('n:c'), '39', 'counter on b');
  assert.strictEqual(await a.type('n:c'), 'string');
  assert.strictEqual(await a.call('CRDT.TYPE', 'n:c'), 'pncounter');
  await assert.rejects(a.incrby('n:c', '1.5'), /^ReplyError: ERR value is not an integer or out of range/);
  await assert.rejects(a.decrby('n:c', '-9223372036854775808'), /ERR decrement would overflow/);
  await assert.rejects(a.incrby('n:c', '9223372036854775807'), /ERR increment or decrement would overflow/);
  await assert.rejects(a.getset('n:c', '0'), /GETSET on a counter cannot converge/);
  await assert.rejects(a.incr('n:s'), /^ReplyError: WRONGTYPE/);
  assert.strictEqual(await a.get('n:c'), '39');
}

async function sets(a, b) {
  assert.strictEqual(await a.sadd('n:set', 'x', 'y', 'z'), 3);
  assert.strictEqual(await b.sadd('n:set2', 'y', 'z', 'w'), 3);
  await eventually(() => a.exists('n:set', 'n:set2'), 2, 'both sets on a');
  assert.deepStrictEqual(await sorted(a.smembers('n:set')), ['x', 'y', 'z']);
  assert.strictEqual(await a.sismember('n:set', 'x'), 1);
  assert.deepStrictEqual(await a.smismember('n:set', 'x', 'w'), [1, 0]);
  assert.strictEqual(await a.scard('n:set'), 3);
  assert.deepStrictEqual(await sorted(a.sunion('n:set', 'n:set2')), ['w', 'x', 'y', 'z']);
  assert.deepStrictEqual(await sorted(a.sinter('n:set', 'n:set2')), ['y', 'z']);
  assert.deepStrictEqual(await a.sdiff('n:set', 'n:set2'), ['x']);
  assert.strictEqual(await a.sunionstore('n:u', 'n:set', 'n:set2'), 4);
  assert.ok(['x', 'y', 'z'].includes(await a.srandmember('n:set')));
  assert.strictEqual((await a.srandmember('n:set', -5)).length, 5);
  assert.deepStrictEqual(await sorted(a.srandmember('n:set', 9)), ['x', 'y', 'z']);
  assert.strictEqual(await a.srem('n:set', 'x', 'nope'), 1);
  assert.strictEqual(await a.type('n:set'), 'set');
  await assert.rejects(a.spop('n:set'), /SPOP cannot converge/);
  await assert.rejects(a.smove('n:set', 'n:set2', 'y'), /SMOVE cannot converge/);
  await eventually(() => sorted(b.smembers('n:u')), ['w', 'x', 'y', 'z'], 'the stored union on b');
  await eventually(() => sorted(b.smembers('n:set')), ['y', 'z'], 'the remove on b');
}

async function hashes(a, b) {
  assert.strictEqual(await a.hset('n:h', { name: 'ann', city: 'oslo' }), 2);
  assert.strictEqual(await a.hset('n:h', 'city', 'rome', 'zip', '00100'), 1);
  assert.deepStrictEqual(await a.hgetall('n:h'), { city: 'rome', name: 'ann', zip: '00100' });
  assert.strictEqual(await a.hget('n:h', 'name'), 'ann');
  assert.strictEqual(await a.hget('n:h', 'nope'), null);
  assert.deepStrictEqual(await a.hmget('n:h', 'zip', 'nope'), ['00100', null]);
  assert.strictEqual(await a.hlen('n:h'), 3);
  assert.strictEqual(await a.hexists('n:h', 'city'), 1);
  assert.strictEqual(await a.type('n:h'), 'hash');
  assert.deepStrictEqual(await a.hgetall('n:missing'), {});
  // a cart of quantities, counted on both replicas
  assert.strictEqual(await a.hincrby('n:cart', 'laptop', 2), 2);
  assert.strictEqual(typeof (await b.hincrby('n:cart', 'laptop', 1)), 'number');
  assert.strictEqual(typeof (await b.hincrby('n:cart', 'mouse', 1)), 'number');
  await eventually(() => a.hgetall('n:cart'), { laptop: '3', mouse: '1' }, 'the cart on a');
  await eventually(() => b.hgetall('n:cart'), { laptop: '3', mouse: '1' }, 'the cart on b');
  assert.strictEqual(await a.hdel('n:cart', 'mouse', 'nope'), 1);
  assert.strictEqual(await a.hexists('n:cart', 'mouse'), 0);
  // after the HDEL (causally), a field counts from 0
  assert.strictEqual(await a.hincrby('n:cart', 'mouse', 5), 5);
  await eventually(() => b.hgetall('n:cart'), { laptop: '3', mouse: '5' }, 'the HDEL and HINCRBY on b');
  await assert.rejects(a.hincrby('n:h', 'name', 1), /ERR hash value is not an integer/);
  await assert.rejects(a.hincrby('n:h', 'zip', 'x'), /ERR value is not an integer or out of range/);
  await assert.rejects(a.hset('n:c', 'f', 'v'), /^ReplyError: WRONGTYPE/);
  assert.deepStrictEqual(await a.hgetall('n:h'), { city: 'rome', name: 'ann', zip: '00100' });
  assert.strictEqual(await a.del('n:h'), 1);
  await eventually(() => b.exists('n:h'), 0, 'the deleted hash on b');
}

async function expiry(a, b) {
  assert.strictEqual(await a.set('n:e', 'v', 'EX', 1000), 'OK');
  const ttl = await a.ttl('n:e');
  assert.ok(ttl > 0 && ttl <= 1000, `ttl ${ttl}`);
  await eventually(async () => (await b.ttl('n:e')) > 0, true, 'the deadline on b');
  assert.strictEqual(await a.persist('n:e'), 1);
  assert.strictEqual(await a.ttl('n:e'), -1);
  assert.strictEqual(await a.persist('n:e'), 0);
  await eventually(() => b.ttl('n:e'), -1, 'the PERSIST on b');
  assert.strictEqual(await a.ttl('n:missing'), -2);
  assert.strictEqual(await a.expire('n:missing', 10), 0);
  // every type takes a deadline: a hash and a counter
  assert.strictEqual(await a.hset('n:eh', 'f', 'v'), 1);
  assert.strictEqual(await a.expire('n:eh', 500), 1);
  const pttl = await a.pttl('n:eh');
  assert.ok(pttl > 0 && pttl <= 500000, `pttl ${pttl}`);
  assert.strictEqual(await a.incr('n:ec'), 1);
  assert.strictEqual(await a.pexpire('n:ec', 1), 1);
  // past its deadline a key is gone on both replicas
  await eventually(() => a.exists('n:ec'), 0, 'the expired counter on a');
  await eventually(() => b.exists('n:ec'), 0, 'the expired counter on b');
  assert.strictEqual(await a.get('n:ec'), null);
  // a write after the expiry starts the key afresh
  assert.strictEqual(await a.incr('n:ec'), 1);
  assert.strictEqual(await a.ttl('n:ec'), -1);
  await assert.rejects(a.set('n:e', 'v', 'EX', 0), /ERR invalid expire time in 'set' command/);
  await assert.rejects(a.expire('n:e', 'soon'), /ERR value is not an integer or out of range/);
  assert.strictEqual(await a.get('n:e'), 'v');
}

async function pipelines(a) {
  const res = await a.pipeline().incr('n:p').incr('n:p').sadd('n:ps', 'a', 'b').get('n:p')
    .incr('n:ps').exec();
  assert.deepStrictEqual(res.slice(0, 4), [[null, 1], [null, 2], [null, 2], [null, '2']]);
  // an error is that command's element; the others ran
  assert.match(String(res[4][0]), /WRONGTYPE/);
  const many = a.pipeline();
  for (let i = 0; i < 1000; i++) many.incr('n:many');
  const out = await many.exec();
  assert.deepStrictEqual(out[999], [null, 1000]);
}

async function transactions(a, b) {
  const tx = await a.multi().incr('n:t').sadd('n:ts', 'x', 'y').set('n:tr', 'v').get('n:tr')
    .exec();
  assert.deepStrictEqual(tx, [[null, 1], [null, 2], [null, 'OK'], [null, 'v']]);
  // a run-time error is its element, as Redis
  const tx2 = await a.multi().incr('n:ts').incr('n:t').exec();
  assert.match(String(tx2[0][0]), /WRONGTYPE/);
  assert.deepStrictEqual(tx2[1], [null, 2]);
  // a command refused while queued aborts the whole transaction
  await assert.rejects(a.multi().incr('n:t').call('NOSUCH').exec(), /EXECABORT/);
  assert.strictEqual(await a.get('n:t'), '2');
  await assert.rejects(a.watch('n:t'), /WATCH is not supported/);
  await eventually(async () => [await b.get('n:t'), await sorted(b.smembers('n:ts')), await b.get('n:tr')],
                   ['2', ['x', 'y'], 'v'], 'the transaction on b');
}

async function main() {
  assert.ok(portA && portB, 'CRDTD_PORTS must name two client ports');
  const a = connect(portA);
  const b = connect(portB);
  try {
    assert.strictEqual(await a.ping(), 'PONG');
    await strings(a, b);
    await counters(a, b);
    await sets(a, b);
    await hashes(a, b);
    await expiry(a, b);
    await pipelines(a);
    await transactions(a, b);
  } finally {
    a.disconnect();
    b.disconnect();
  }
}

main().then(() => {
  console.log('node client test: ok');
}, (e) => {
  console.error(e);
  process.exitCode = 1;
});
