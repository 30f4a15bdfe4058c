"""A thin, typed layer over llama.cpp's C API (through llama-cpp-python's ctypes bindings).

Everything that touches a llama.cpp pointer lives here, so the rest of the engine deals in Python ints and strings.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_lib: Any = None
_held: Any = None


def lib() -> Any:
    """The llama_cpp bindings, imported (and the backend initialised) on first use, never at import time."""
    global _lib
    if _lib is None:
        import llama_cpp

        if not os.environ.get("BASALT_LLAMA_VERBOSE"):
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
        llama_cpp.llama_backend_init()
        _lib = llama_cpp
    return _lib


def held() -> Any:
    """The same library through `ctypes.PyDLL`: its calls keep the GIL. For the calls the engine makes between
    decode steps, which take a microsecond or two: a ctypes call releases the GIL, the event loop's thread takes
    it, and getting it back waits out whatever the loop is doing, on the engine's critical path (measured: about
    1 ms per step at 4 sequences)."""
    global _held
    if _held is None:
        L = lib()
        held = ctypes.PyDLL(L.llama_cpp._lib._name)
        for name in ("llama_token_to_piece", "llama_get_logits"):
            fn, bound = getattr(held, name), getattr(L, name)
            fn.argtypes, fn.restype = bound.argtypes, bound.restype
        held.llama_get_logits.restype = ctypes.c_void_p  # an address, for the engine's cached view
        _held = held
    return _held


class LlamaModel:
    """A GGUF model loaded once and shared by every context and sequence."""

    def __init__(self, path: str | Path) -> None:
        L = lib()
        params = L.llama_model_default_params()
        self.path = Path(path)
        self.ptr = L.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise RuntimeError(f"llama.cpp could not load the model file {path}")
        self.vocab = L.llama_model_get_vocab(self.ptr)
        self.n_vocab: int = L.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train: int = L.llama_model_n_ctx_train(self.ptr)
        self.add_bos: bool = bool(L.llama_vocab_get_add_bos(self.vocab))
        self._piece_buf = ctypes.create_string_buffer(256)
        self._pieces: dict[int, bytes] = {}
        self._special_pieces: dict[int, bytes] = {}
        self._eog = frozenset(t for t in range(self.n_vocab) if L.llama_vocab_is_eog(self.vocab, t))
        # The longest text one token stands for, special tokens included (a prompt is tokenized with them): a prompt
        # of n bytes is at least n / max_token_bytes tokens, which bounds its length before it is tokenized.
        self.max_token_bytes: int = max(len(self._token_bytes(t, special=True)) for t in range(self.n_vocab))

    def close(self) -> None:
        if self.ptr:
            lib().llama_model_free(self.ptr)
            self.ptr = None

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = lib().llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return None if n < 0 else buf.value.decode("utf-8", "replace")

    def chat_template(self) -> str | None:
        raw = lib().llama_model_chat_template(self.ptr, None)
        return raw.decode("utf-8") if raw else None

    def token_text(self, token: int) -> str:
        """The text of a special token such as `<|im_end|>`, for chat templates."""
        return self._token_bytes(token, special=True).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return token in self._eog

    def tokenize(self, text: str, *, special: bool = True, add_bos: bool | None = None) -> list[int]:
        """`text`'s tokens, special tokens parsed when `special`; a BOS first when the model wants one (or as asked)."""
        L = lib()
        data = text.encode("utf-8")
        bos = self.add_bos if add_bos is None else add_bos
        capacity = len(data) + 8
        tokens = (ctypes.c_int32 * capacity)()
        n = L.llama_tokenize(self.vocab, data, len(data), tokens, capacity, bos, special)
        if n < 0:  # the buffer was too small; -n is the size needed
            capacity = -n
            tokens = (ctypes.c_int32 * capacity)()
            n = L.llama_tokenize(self.vocab, data, len(data), tokens, capacity, bos, special)
        return list(tokens[:n])

    def token_bytes(self, token: int) -> bytes:
        """The bytes a token stands for, special tokens as their text (`<|im_end|>`): how log-probabilities name
        tokens. Remembered once looked up."""
        piece = self._special_pieces.get(token)
        if piece is None:
            # A buffer of its own: this runs off the engine thread, whose lookups share `_piece_buf`.
            buf = ctypes.create_string_buffer(64)
            piece = self._special_pieces[token] = self._token_bytes(token, special=True, buf=buf)
        return piece

    def piece(self, token: int) -> bytes:
        """The bytes of a generated token (special tokens render as nothing); remembered once looked up."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self._token_bytes(token, special=False)
        return piece

    def _token_bytes(self, token: int, *, special: bool, buf: ctypes.Array[ctypes.c_char] | None = None) -> bytes:
        fn = held().llama_token_to_piece
        buf = self._piece_buf if buf is None else buf
        n = fn(self.vocab, token, buf, len(buf), 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = fn(self.vocab, token, buf, len(buf), 0, special)
        return buf.raw[:n]


@dataclass(frozen=True)
class ContextConfig:
    n_ctx: int
    n_batch: int
    n_seq_max: int
    n_threads: int
    kv_unified: bool = True
    flash_attn: int = -1  # llama_flash_attn_type: -1 auto, 0 off, 1 on
    type_k: int = 1  # ggml_type of the K cache: 1 F16, 8 Q8_0
    type_v: int = 1  # and of the V cache
    rotate_k: bool = True  # llama.cpp's Hadamard rotation of queries and keys, applied when K is quantized
    poll: int | None = None  # a persistent thread pool with this polling level (0-100); None: llama.cpp's default


class _ThreadPoolParams(ctypes.Structure):
    # struct ggml_threadpool_params (ggml.h), which llama-cpp-python does not bind.
    _fields_ = [
        ("cpumask", ctypes.c_bool * 512),
        ("n_threads", ctypes.c_int),
        ("prio", ctypes.c_int),
        ("poll", ctypes.c_uint32),
        ("strict_cpu", ctypes.c_bool),
        ("paused", ctypes.c_bool),
    ]


class ThreadPool:
    """A persistent ggml CPU thread pool: the workers live as long as the context, and between steps they spin for
    a while (`poll`, 0-100) before sleeping, as llama-server's do."""

    def __init__(self, n_threads: int, poll: int) -> None:
        libdir = Path(lib().__file__).parent / "lib"
        base = ctypes.CDLL(str(libdir / "libggml-base.so"))
        self._cpu = ctypes.CDLL(str(libdir / "libggml-cpu.so"))
        self._llama = ctypes.CDLL(str(libdir / "libllama.so"))
        base.ggml_threadpool_params_default.restype = _ThreadPoolParams
        base.ggml_threadpool_params_default.argtypes = [ctypes.c_int]
        self._cpu.ggml_threadpool_new.restype = ctypes.c_void_p
        self._cpu.ggml_threadpool_new.argtypes = [ctypes.POINTER(_ThreadPoolParams)]
        self._cpu.ggml_threadpool_free.argtypes = [ctypes.c_void_p]
        self._llama.llama_attach_threadpool.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        params = base.ggml_threadpool_params_default(n_threads)
        params.poll = poll
        self.ptr: int | None = self._cpu.ggml_threadpool_new(ctypes.byref(params))
        if not self.ptr:
            raise RuntimeError("ggml_threadpool_new failed")

    def attach(self, context: Any) -> None:
        self._llama.llama_attach_threadpool(ctypes.cast(context, ctypes.c_void_p).value, self.ptr, self.ptr)

    def free(self) -> None:
        if self.ptr:
            self._cpu.ggml_threadpool_free(self.ptr)
            self.ptr = None


class Batch:
    """A reusable llama_batch whose arrays are filled in bulk through numpy views."""

    def __init__(self, capacity: int) -> None:
        L = lib()
        self.capacity = capacity
        self.raw = L.llama_batch_init(capacity, 0, 1)
        self.tokens = np.ctypeslib.as_array(self.raw.token, shape=(capacity,))
        self.pos = np.ctypeslib.as_array(self.raw.pos, shape=(capacity,))
        self.n_seq_id = np.ctypeslib.as_array(self.raw.n_seq_id, shape=(capacity,))
        self.logits = np.ctypeslib.as_array(self.raw.logits, shape=(capacity,))
        self._seq_slots = [self.raw.seq_id[i] for i in range(capacity)]
        self.n_seq_id[:] = 1
        self.size = 0

    def clear(self) -> None:
        self.size = 0

    def add(
        self, tokens: list[int], start_pos: int, seq_id: int, want_last_logits: bool, want_all_logits: bool = False
    ) -> int:
        """Append a run of one sequence's tokens; return the batch index of the last one. `want_all_logits` asks
        for the logits of every one of them (a prompt's log-probabilities)."""
        n, i = len(tokens), self.size
        if n == 1:  # a generating sequence's step: element stores, several times cheaper than the slice stores below
            self.tokens[i], self.pos[i], self.logits[i] = tokens[0], start_pos, want_last_logits or want_all_logits
            self._seq_slots[i][0] = seq_id
            self.size = i + 1
            return i
        self.tokens[i : i + n] = tokens
        self.pos[i : i + n] = np.arange(start_pos, start_pos + n, dtype=np.int32)
        self.logits[i : i + n] = want_all_logits
        if want_last_logits:
            self.logits[i + n - 1] = 1
        for slot in self._seq_slots[i : i + n]:
            slot[0] = seq_id
        self.size = i + n
        return i + n - 1

    def free(self) -> None:
        if self.raw is not None:
            lib().llama_batch_free(self.raw)
            self.raw = None


class LlamaContext:
    """One llama.cpp context: a unified KV cache shared by up to n_seq_max sequences."""

    def __init__(self, model: LlamaModel, config: ContextConfig) -> None:
        L = lib()
        params = L.llama_context_default_params()
        params.n_ctx = config.n_ctx
        params.n_batch = config.n_batch
        params.n_ubatch = config.n_batch
        params.n_seq_max = config.n_seq_max
        params.n_threads = config.n_threads
        params.n_threads_batch = config.n_threads
        params.kv_unified = config.kv_unified
        params.flash_attn_type = config.flash_attn
        params.type_k = config.type_k
        params.type_v = config.type_v
        params.no_perf = True
        self.model = model
        self.config = config
        # The rotation has no parameter of its own: llama.cpp reads this variable when it creates the KV cache.
        before = os.environ.get("LLAMA_ATTN_ROT_DISABLE")
        os.environ["LLAMA_ATTN_ROT_DISABLE"] = "0" if config.rotate_k else "1"
        try:
            self.ptr = L.llama_init_from_model(model.ptr, params)
        finally:
            if before is None:
                del os.environ["LLAMA_ATTN_ROT_DISABLE"]
            else:
                os.environ["LLAMA_ATTN_ROT_DISABLE"] = before
        if not self.ptr:
            raise RuntimeError("llama.cpp could not create a context")
        self.memory = L.llama_get_memory(self.ptr)
        self.n_ctx: int = L.llama_n_ctx(self.ptr)
        # Without a pool of its own, llama.cpp starts and joins its worker threads on every decode step.
        self.threadpool = ThreadPool(config.n_threads, config.poll) if config.poll is not None else None
        if self.threadpool is not None:
            self.threadpool.attach(self.ptr)
        self.batch = Batch(config.n_batch)
        self._logits_address: int | None = None
        self._logits: np.ndarray[Any, np.dtype[np.float32]] = np.empty((0, model.n_vocab), np.float32)

    def decode(self) -> int:
        """Run the filled batch; 0 on success, 1 when the KV cache had no room, < 0 on error."""
        self.batch.raw.n_tokens = self.batch.size
        return int(lib().llama_decode(self.ptr, self.batch.raw))

    def logits(self, n_outputs: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The last step's logits: one row per batch entry that asked for them, in batch order."""
        # llama_get_logits must run every step (it puts rows back in batch order), but its buffer moves only when
        # llama.cpp grows it, so the numpy view over it is made once per buffer (measured: 40 us a step otherwise).
        # The view spans n_batch rows, which the buffer may not hold; only the rows this step wrote are handed out.
        if n_outputs == 0:  # a step of prompt chunks only
            return self._logits[:0]
        address = held().llama_get_logits(self.ptr)
        if address != self._logits_address:
            rows = (ctypes.c_float * (self.config.n_batch * self.model.n_vocab)).from_address(address)
            self._logits = np.ctypeslib.as_array(rows).reshape(self.config.n_batch, self.model.n_vocab)
            self._logits_address = address
        return self._logits[:n_outputs]

    def forget(self, seq_id: int, start: int = 0) -> None:
        """Drop a sequence's KV cells from position `start` on."""
        lib().llama_memory_seq_rm(self.memory, seq_id, start, -1)

    def copy_stream(self, src: int, dst: int) -> None:
        """Copy a sequence's whole KV stream into another's (llama.cpp copies separate streams only whole)."""
        lib().llama_memory_seq_cp(self.memory, src, dst, -1, -1)

    def close(self) -> None:
        self.batch.free()
        if self.ptr:
            lib().llama_free(self.ptr)
            self.ptr = None
        if self.threadpool is not None:
            self.threadpool.free()
            self.threadpool = None


PENALTY_WINDOW = 1024  # tokens of the answer that frequency and presence penalties look back over


class Sampler:
    """A per-sequence llama.cpp sampler chain: optional grammar, then top-k/top-p/temperature, or greedy."""

    def __init__(
        self,
        model: LlamaModel,
        *,
        temperature: float,
        top_p: float | None,
        top_k: int | None,
        seed: int | None,
        grammar: str | None,
        grammar_trigger: str | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
    ) -> None:
        L = lib()
        self.n_vocab = model.n_vocab
        # Plain greedy decoding needs no chain: an argmax over the logits row is several times cheaper than
        # llama_sampler_sample, which first copies the whole vocabulary into a candidates array.
        penalties = bool(frequency_penalty or presence_penalty)
        self.greedy = temperature <= 0 and grammar is None and not penalties
        self.ptr = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
        if grammar is not None and grammar_trigger is not None:
            # Lazy: free text until the trigger appears, then the grammar from the trigger on.
            pattern = f"^[\\s\\S]*?({re.escape(grammar_trigger)}[\\s\\S]*)"
            patterns = (ctypes.c_char_p * 1)(pattern.encode())
            g = L.llama_sampler_init_grammar_lazy_patterns(model.vocab, grammar.encode(), b"root", patterns, 1, None, 0)
            if not g:
                L.llama_sampler_free(self.ptr)
                raise ValueError("the grammar could not be parsed")
            L.llama_sampler_chain_add(self.ptr, g)
        elif grammar is not None:
            g = L.llama_sampler_init_grammar(model.vocab, grammar.encode(), b"root")
            if not g:
                L.llama_sampler_free(self.ptr)
                raise ValueError("the grammar could not be parsed")
            L.llama_sampler_chain_add(self.ptr, g)
        if penalties:  # OpenAI's semantics: counts over the answer so far (the chain sees only sampled tokens)
            penalty = L.llama_sampler_init_penalties(
                self.n_vocab, PENALTY_WINDOW, 1.0, frequency_penalty, presence_penalty
            )
            L.llama_sampler_chain_add(self.ptr, penalty)
        if temperature <= 0:
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_greedy())
            return
        if top_k:
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_top_k(top_k))
        if top_p is not None and top_p < 1.0:
            L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_top_p(top_p, 1))
        L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_temp(temperature))
        rng_seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
        L.llama_sampler_chain_add(self.ptr, L.llama_sampler_init_dist(rng_seed & 0xFFFFFFFF))

    def sample(self, ctx: LlamaContext, batch_index: int) -> int:
        """Pick the next token from the logits at `batch_index` and advance the chain's state (grammar) with it.
        A greedy sampler's token is the argmax of the logits row, which the engine takes for all of them at once."""
        return int(lib().llama_sampler_sample(self.ptr, ctx.ptr, batch_index))

    def free(self) -> None:
        if self.ptr:
            lib().llama_sampler_free(self.ptr)
            self.ptr = None
