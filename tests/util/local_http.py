"""A small HTTP server on 127.0.0.1 for the tests of tools/fetch-models.sh: serves a folder with
byte ranges, streams files of any size, can cut or corrupt a response, logs each request, and
shuts itself down after a deadline whatever happens."""
import http.server
import os
import threading


class Server:
    """Serves root over HTTP/1.0 with byte ranges; per-path faults: 'cut' (the first response
    stops halfway and the connection closes), 'corrupt' (one byte flipped) and 'norange' (Range
    ignored: 200 and the whole file)."""

    def __init__(self, root, deadline=300):
        self.root, self.faults, self.log = root, {}, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rel = self.path.lstrip("/")
                path = os.path.join(outer.root, rel)
                rng = self.headers.get("Range")
                outer.log.append((rel, rng))
                if ".." in rel or not os.path.isfile(path):
                    self.send_error(404)
                    return
                size = os.path.getsize(path)
                start = 0
                if outer.faults.get(rel) == "norange":
                    rng = None  # a server that cannot resume: always the whole file
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= size:
                        self.send_response(416)
                        self.send_header("Content-Range", "bytes */%d" % size)
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size))
                else:
                    self.send_response(200)
                n = size - start
                fault = outer.faults.get(rel)
                if fault == "cut":
                    del outer.faults[rel]  # the next request gets the rest
                    n_send = n // 2
                else:
                    n_send = n
                self.send_header("Content-Length", str(n))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                with open(path, "rb") as f:
                    f.seek(start)
                    pos = start
                    while n_send > 0:
                        chunk = f.read(min(n_send, 1 << 20))
                        if not chunk:
                            break
                        if fault == "corrupt" and pos <= 100 < pos + len(chunk):
                            i = 100 - pos
                            chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
                        self.wfile.write(chunk)
                        pos += len(chunk)
                        n_send -= len(chunk)
                self.wfile.flush()
                if fault == "cut":
                    self.close_connection = True

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.timer = threading.Timer(deadline, self.httpd.shutdown)  # stops itself whatever happens

    def __enter__(self):
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()
