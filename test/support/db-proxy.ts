import { connect, createServer, type Server, type Socket } from "node:net";
import { PGlite } from "@electric-sql/pglite";
import { pgcrypto } from "@electric-sql/pglite/contrib/pgcrypto";

/**
 * PostgreSQL over TCP for the fault tests: PGlite (real PostgreSQL in WebAssembly) behind its own
 * wire protocol, so postgres.js connects to it as to a server, one session at a time.
 */
export async function startPgliteServer(): Promise<{ port: number; close(): Promise<void> }> {
  const db = await PGlite.create("memory://", { extensions: { pgcrypto } });
  await db.exec("set timezone to 'UTC'");
  let chain: Promise<unknown> = Promise.resolve();
  let closed = false;
  const run = (socket: Socket, message: Buffer) => {
    chain = chain.then(async () => {
      const reply = await db.execProtocolRaw(new Uint8Array(message));
      if (reply.length > 0 && !socket.destroyed) {
        socket.write(reply);
      }
    });
  };
  const server = createServer((socket) => {
    let buffer = Buffer.alloc(0);
    let started = false;
    socket.on("error", () => {});
    // One session serves every connection: a client that vanishes mid-statement or mid-transaction
    // must not leave it waiting for a Sync or inside its transaction.
    socket.on("close", () => {
      if (started && !closed) {
        const sync = Buffer.from([0x53, 0, 0, 0, 4]);
        const text = Buffer.from("rollback\0");
        const query = Buffer.alloc(5 + text.length);
        query.write("Q", 0);
        query.writeInt32BE(4 + text.length, 1);
        text.copy(query, 5);
        chain = chain
          .then(async () => {
            await db.execProtocolRaw(new Uint8Array(sync));
            await db.execProtocolRaw(new Uint8Array(query));
          })
          .catch(() => {});
      }
    });
    socket.on("data", (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        // The startup packet has no type byte; every later message does.
        const header = started ? 5 : 8;
        if (buffer.length < header) {
          return;
        }
        const length = started ? buffer.readInt32BE(1) + 1 : buffer.readInt32BE(0);
        if (buffer.length < length) {
          return;
        }
        const message = buffer.subarray(0, length);
        buffer = buffer.subarray(length);
        if (!started && message.readInt32BE(4) === 80_877_103) {
          socket.write("N"); // no TLS
          continue;
        }
        if (started && message[0] === 0x58) {
          socket.end(); // Terminate
          return;
        }
        started = true;
        run(socket, message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      closed = true;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await chain.catch(() => {});
      await db.close();
    },
  };
}

/** A TCP proxy to the database that can be cut (every connection dropped, new ones refused) and restored. */
export async function startDatabaseProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = connect(target.port, target.host);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("error", () => {});
        socket.on("close", () => {
          sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => server?.listen(port, "127.0.0.1", resolve));
    port = (server.address() as { port: number }).port;
  };
  await listen();
  return {
    get port() {
      return port;
    },
    /** The database goes away: open connections drop, new ones are refused. */
    async cut() {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    },
    async restore() {
      await listen();
    },
    async close() {
      for (const socket of sockets) {
        socket.destroy();
      }
      await new Promise<void>((resolve) => (server?.listening ? server.close(() => resolve()) : resolve()));
    },
  };
}
