"""``stylebank serve``: the web studio and its HTTP API on this machine."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import math
import socket
import sys

from ..backends.auto import TORCH_FROM_IMAGES, load_stylizer
from ..config import QuickStyleConfig
from ..errors import StyleBankError
from ..images import MAX_PIXELS
from .options import add_backend_options, add_max_pixels_option, non_negative_int, positive_int


def add_serve(commands: argparse._SubParsersAction) -> None:
    """``stylebank serve``: its options and handler."""
    serve = commands.add_parser("serve", help="the web studio: paint styles onto regions of a photo in a browser "
                                              "(needs stylebank[web])")
    serve.add_argument("-m", "--model", help="model file (default: the bundled model)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1: this machine only; anything else lets "
                            "others on the network use it)")
    serve.add_argument("--port", type=non_negative_int, default=8000, help="port (default 8000; 0: any free one)")
    serve.add_argument("--max-upload-mb", type=positive_int, default=20,
                       help="largest request body, in MB, refused while it is read (default 20)")
    serve.add_argument("--queue", type=non_negative_int, default=4,
                       help="requests that may wait while one is stylized; more get 503 (default 4)")
    serve.add_argument("--learn-seconds", type=float, default=QuickStyleConfig.seconds,
                       help="how long the studio learns a style a user adds from a painting (default "
                            f"{QuickStyleConfig.seconds:g}; quick add-style)")
    add_backend_options(serve)
    add_max_pixels_option(serve)
    serve.set_defaults(handler=run_serve)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on host:port, or a StyleBankError that says why not (in use, no such address)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        # listening from now on: connections wait in the backlog while the model loads and uvicorn starts
        return socket.create_server((host, port), family=family, backlog=128)
    except OSError as error:
        hint = "; choose another with --port (0: any free one)" if error.errno == errno.EADDRINUSE else ""
        raise StyleBankError(f"cannot listen on {host}:{port}: {error.strerror or error}{hint}") from None


def is_local(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..web.app import ServerLimits, create_app
    except ImportError as error:
        raise StyleBankError(f"stylebank serve needs the web extra ({error.name} is missing): "
                             "pip install 'stylebank[web]'") from None
    limits = ServerLimits(max_upload_bytes=args.max_upload_mb * 1_000_000, queue=args.queue,
                          max_pixels=MAX_PIXELS if args.max_pixels is None else args.max_pixels)
    server_socket = listening_socket(args.host, args.port)  # before loading the model: a busy port fails at once
    # a server stylizes many pictures over its life: PyTorch's start-up is paid once
    if not (args.learn_seconds > 0 and math.isfinite(args.learn_seconds)):
        raise StyleBankError(f"--learn-seconds must be a number above 0, got {args.learn_seconds}")
    learning = QuickStyleConfig(seconds=args.learn_seconds)
    app = create_app(load_stylizer(args.model, args.backend, args.device, images=TORCH_FROM_IMAGES), limits, learning)
    host, port = server_socket.getsockname()[:2]
    if not is_local(args.host):
        print(f"stylebank: note: listening on {host}, not only this machine: anyone who can reach it on the "
              "network can use the studio", file=sys.stderr)
    shown = f"[{host}]" if ":" in host else host
    print(f"StyleBank studio at http://{shown}:{port}/ (Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[server_socket])
    return 0
