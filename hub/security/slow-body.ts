import type { FastifyInstance } from 'fastify';

/**
 * Cuts a request whose body has not arrived whole within `ms` (slowloris-style trickle,
 * OWASP "Denial of Service Cheat Sheet"). Node's own requestTimeout did not cut a body trickled
 * after complete headers in our measurements (Node 24, fastify 5), so the hub enforces it: the
 * timer starts with the request and stops once the body is parsed (preValidation).
 */
export function cutSlowBodies(app: FastifyInstance, ms: number): void {
  const timers = new WeakMap<object, NodeJS.Timeout>();
  app.addHook('onRequest', (req, _reply, done) => {
    const timer = setTimeout(() => {
      const socket = req.raw.socket;
      // the handler never ran: answer 408 on the raw socket (RFC 9110 section 15.5.9) and close it
      if (!socket.destroyed)
        socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () =>
          socket.destroy(),
        );
    }, ms);
    timer.unref();
    timers.set(req, timer);
    req.raw.once('close', () => clearTimeout(timer));
    done();
  });
  const stop = (req: object, _reply: unknown, done: () => void) => {
    clearTimeout(timers.get(req));
    done();
  };
  app.addHook('preValidation', stop);
  // a request answered before its body was read (401, 404...) must not cut the next one on the socket
  app.addHook('onResponse', stop);
}
