# receiver.py SECRET_FILE [PORT]: a webhook receiver for trying suho's webhook sink. It checks each
# request as a Standard Webhooks consumer does (the signature, a timestamp within 5 minutes),
# drops repeats of a webhook-id it already took, answers 200 (or 401), and prints the alert.
# Python 3.9+, standard library only; listens on 127.0.0.1:8080 by default.
import base64, hashlib, hmac, http.server, json, sys, time

key = base64.b64decode(open(sys.argv[1]).read().strip().removeprefix("whsec_"))
taken = set()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        msg_id, ts = self.headers["webhook-id"], self.headers["webhook-timestamp"]
        signed = f"{msg_id}.{ts}.".encode() + body
        want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        ok = any(hmac.compare_digest(s, want) for s in self.headers["webhook-signature"].split())
        ok = ok and abs(time.time() - int(ts)) <= 300
        self.send_response(200 if ok else 401)
        self.end_headers()
        if ok and msg_id not in taken:
            taken.add(msg_id)
            event = json.loads(body)
            print(event["type"], event["data"]["severity"], event["data"]["summary"], flush=True)


port = int(sys.argv[2]) if len(sys.argv) > 2 else 8080
http.server.HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
