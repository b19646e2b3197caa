# A user with lingering gets the socket at boot; the first request starts the
# proxy, which answers through a mock Codex backend and token endpoint in the
# VM and keeps the answer in the user's StateDirectory=. A second lingering
# user, not in `users`, gets no socket.
let
  mockPort = 8400;
  mockUrl = "http://127.0.0.1:${toString mockPort}";

  # POST /backend-api/codex/responses: an SSE stream ending in
  # response.completed; GET …/models: an empty list; POST /oauth/token: fresh
  # alg-none tokens.
  mock = ''
    import base64, json, sys, time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


    def jwt(claims):
        return b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."


    FAR = 4102444800  # 2100-01-01
    RESPONSE = {
        "id": "resp_test",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": "gpt-5",
        "output": [
            {
                "type": "message",
                "id": "msg_test",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "pong", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    }


    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, content_type, body):
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/backend-api/codex/models"):
                self.reply(200, "application/json", b'{"models": []}')
            else:
                self.reply(404, "text/plain", b"not found")

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/oauth/token":
                tokens = {
                    "id_token": jwt({"exp": FAR, "https://api.openai.com/auth": {"chatgpt_account_id": "acct-test"}}),
                    "access_token": jwt({"exp": FAR}),
                    "refresh_token": "rt-test-2",
                }
                self.reply(200, "application/json", json.dumps(tokens).encode())
            elif self.path == "/backend-api/codex/responses":
                events = [
                    ("response.created", {"type": "response.created", "response": dict(RESPONSE, status="in_progress", output=[])}),
                    ("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_test", "output_index": 0, "content_index": 0, "delta": "pong"}),
                    ("response.completed", {"type": "response.completed", "response": RESPONSE}),
                ]
                body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
                self.reply(200, "text/event-stream", body.encode())
            else:
                self.reply(404, "text/plain", b"not found")


    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
  '';
in
{
  name = "codex-responses-proxy";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../nixos-module.nix ];

      users.users.alice = {
        isNormalUser = true;
        linger = true;
      };
      users.users.bob = {
        isNormalUser = true;
        linger = true;
      };

      services.codex-responses-proxy = {
        enable = true;
        users = [ "alice" ];
        logLevel = "debug";
        settings = {
          upstream_url = "${mockUrl}/backend-api/codex";
          token_url = "${mockUrl}/oauth/token";
        };
      };

      systemd.services.mock-codex-backend = {
        wantedBy = [ "multi-user.target" ];
        serviceConfig.ExecStart = "${pkgs.python3.interpreter} ${pkgs.writeText "mock-codex-backend.py" mock} ${toString mockPort}";
      };

      environment.systemPackages = [ pkgs.curl ];
    };

  testScript = ''
    import base64, json, shlex


    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


    def jwt(claims):
        return b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."


    far = 4102444800  # 2100-01-01
    auth = {
        "OPENAI_API_KEY": None,
        "tokens": {
            "id_token": jwt({"exp": far, "email": "alice@example.invalid", "https://api.openai.com/auth": {"chatgpt_account_id": "acct-test", "chatgpt_plan_type": "plus"}}),
            "access_token": jwt({"exp": far}),
            "refresh_token": "rt-test",
            "account_id": "acct-test",
        },
        "last_refresh": "2026-11-23T00:00:00Z",
    }

    machine.wait_for_unit("multi-user.target")
    machine.wait_for_unit("mock-codex-backend.service")
    machine.wait_for_open_port(${toString mockPort})

    with subtest("the login of alice is in ~/.codex"):
        machine.succeed("install -d -m 700 -o alice -g users /home/alice/.codex")
        machine.succeed(f"printf %s {shlex.quote(json.dumps(auth))} | install -m 600 -o alice -g users /dev/stdin /home/alice/.codex/auth.json")

    with subtest("alice's user manager listens; the service waits for a connection"):
        machine.wait_for_unit("codex-responses-proxy.socket", "alice")
        machine.wait_for_open_port(8787)
        machine.fail("systemctl --user -M alice@ is-active --quiet codex-responses-proxy.service")

    with subtest("bob is not in users and gets no socket"):
        machine.wait_for_unit("default.target", "bob")
        machine.fail("systemctl --user -M bob@ is-active --quiet codex-responses-proxy.socket")

    with subtest("a request starts the service and is answered through the backend"):
        assert machine.succeed("curl -sf http://127.0.0.1:8787/healthz").strip() == "ok"
        out = machine.succeed(
            "curl -sfN http://127.0.0.1:8787/v1/responses -H 'content-type: application/json'"
            + " -d '{\"model\": \"gpt-5\", \"input\": \"ping\", \"stream\": true}'"
        )
        assert "response.completed" in out, out
        assert "pong" in out, out
        machine.wait_for_unit("codex-responses-proxy.service", "alice")

    with subtest("the answer is kept in alice's state directory, private to her, and read back"):
        got = json.loads(machine.succeed("curl -sf http://127.0.0.1:8787/v1/responses/resp_test"))
        assert got["output"][0]["content"][0]["text"] == "pong", got
        # %S is ~/.local/state on current systemd (~/.config on older releases).
        db = machine.succeed(
            "ls /home/alice/.local/state/codex-responses-proxy/responses.sqlite3"
            + " /home/alice/.config/codex-responses-proxy/responses.sqlite3 2>/dev/null | head -n 1"
        ).strip()
        assert db, "no responses.sqlite3 in alice's StateDirectory="
        assert machine.succeed(f"stat -c '%a %U' {db}").strip() == "600 alice"

    with subtest("stopping the socket stops the service"):
        machine.succeed("systemctl --user -M alice@ stop codex-responses-proxy.socket")
        machine.wait_until_fails("systemctl --user -M alice@ is-active --quiet codex-responses-proxy.service")
  '';
}
