%% troika_peer: Savina-style actor benchmarks on Erlang/OTP, the Erlang peer of
%% troika's bench/actors/bench_actors. Written for troika; see bench/peers/README.md.
%%
%% Run (bench/actors/run does this):
%%   erlc -o DIR troika_peer.erl
%%   erl -noshell +S N:N +P 4194304 -pa DIR -s troika_peer main N [quick] [BENCH...]
%% N is the scheduler count (also used for the _tN suffix); `quick` divides every
%% count by 10; BENCH names (pingpong counting ring spawn restart) pick a subset.
%% Output: one `name=<bench>_tN unit=<unit> value=<number>` line per figure.
%% The VM stops itself (init:stop/1) with status 0 on success, 1 on failure.
-module(troika_peer).

-export([main/1]).
%% process entry points
-export([pong_loop/0, ping_main/4, counter_loop/1, produce/3, ring_node/2,
         idle/1, start_worker/2]).
%% supervisor and gen_server callbacks (one module serves both: init/1 tells
%% them apart by its argument)
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(RING_SIZE, 503).

%% -- entry -------------------------------------------------------------------

main([ThreadsAtom | Rest]) ->
    Threads = list_to_integer(atom_to_list(ThreadsAtom)),
    Quick = lists:member(quick, Rest),
    Picked = [B || B <- Rest, B =/= quick],
    All = [counting, pingpong, ring, spawn, restart],
    Benches = case Picked of [] -> All; _ -> [B || B <- All, lists:member(B, Picked)] end,
    Online = erlang:system_info(schedulers_online),
    Online =:= Threads orelse
        io:format(standard_error, "warning: ~b schedulers online, asked for ~b~n",
                  [Online, Threads]),
    %% The benchmarks run in a fresh process, not in the one -s uses.
    {Pid, Ref} = spawn_monitor(fun() -> run(Benches, Threads, Quick) end),
    receive
        {'DOWN', Ref, process, Pid, normal} ->
            init:stop(0);
        {'DOWN', Ref, process, Pid, Reason} ->
            io:format(standard_error, "troika_peer failed: ~p~n", [Reason]),
            init:stop(1)
    end.

run(Benches, Threads, Quick) ->
    Suffix = "_t" ++ integer_to_list(Threads),
    lists:foreach(fun(B) -> bench(B, Suffix, Quick) end, Benches).

bench(counting, S, Q) -> counting(S, Q);
bench(pingpong, S, Q) -> pingpong(S, Q);
bench(ring, S, Q) -> ring(S, Q);
bench(spawn, S, Q) -> spawn_bench(S, Q);
bench(restart, S, Q) -> restart(S, Q).

%% -- helpers -------------------------------------------------------------------

now_ns() -> erlang:monotonic_time(nanosecond).

scale(N, true) -> N div 10;
scale(N, false) -> N.

emit(Name, Suffix, Unit, Value) when is_integer(Value) ->
    io:format("name=~s~s unit=~s value=~b~n", [Name, Suffix, Unit, Value]);
emit(Name, Suffix, Unit, Value) when is_float(Value) ->
    io:format("name=~s~s unit=~s value=~.1f~n", [Name, Suffix, Unit, Value]).

%% Nearest-rank percentile of a list of numbers (P in 0..1).
percentiles(Samples, Ps) ->
    Sorted = list_to_tuple(lists:sort(Samples)),
    N = tuple_size(Sorted),
    [element(max(1, min(N, ceil(P * N))), Sorted) || P <- Ps].

%% A field of /proc/self/status of the beam process, in kB.
proc_status_kb(Field) ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    Lines = string:split(binary_to_list(Bin), "\n", all),
    Prefix = Field ++ ":",
    [Rest] = [lists:nthtail(length(Prefix), L) || L <- Lines, lists:prefix(Prefix, L)],
    [Num | _] = string:lexemes(Rest, " \t"),
    list_to_integer(Num).

%% -- 1. pingpong ---------------------------------------------------------------
%% Two processes bounce a small integer. Throughput phase: N messages in all
%% (N/2 round trips), ns per message. Latency phase: each round trip timed on its
%% own with the monotonic clock, p50/p99/p99.9.

pingpong(Suffix, Q) ->
    Msgs = scale(2000000, Q),
    Timed = scale(100000, Q),
    Pong = spawn(?MODULE, pong_loop, []),
    Ping = spawn(?MODULE, ping_main, [self(), Pong, Msgs div 2, Timed]),
    Pong ! {partner, Ping},
    receive
        {pingpong_done, Ns, Rtts} ->
            exit(Pong, kill),
            emit("pingpong_msg", Suffix, "ns/msg", Ns / Msgs),
            [P50, P99, P999] = percentiles(Rtts, [0.50, 0.99, 0.999]),
            emit("pingpong_rtt_p50", Suffix, "ns", P50),
            emit("pingpong_rtt_p99", Suffix, "ns", P99),
            emit("pingpong_rtt_p999", Suffix, "ns", P999)
    end.

pong_loop() ->
    receive {partner, Ping} -> pong_loop(Ping) end.

pong_loop(Ping) ->
    receive X -> Ping ! X, pong_loop(Ping) end.

ping_main(Driver, Pong, Rounds, Timed) ->
    T0 = now_ns(),
    bounce(Pong, Rounds),
    T1 = now_ns(),
    Rtts = timed_bounce(Pong, Timed, []),
    Driver ! {pingpong_done, T1 - T0, Rtts}.

bounce(_Pong, 0) -> ok;
bounce(Pong, K) ->
    Pong ! K,
    receive K -> bounce(Pong, K - 1) end.

timed_bounce(_Pong, 0, Acc) -> Acc;
timed_bounce(Pong, K, Acc) ->
    T0 = now_ns(),
    Pong ! K,
    receive K -> ok end,
    timed_bounce(Pong, K - 1, [now_ns() - T0 | Acc]).

%% -- 2. counting ---------------------------------------------------------------
%% A producer sends 0..N-1 to a counter as fast as it can, then asks for the sum
%% and checks it. No flow control: the counter's mailbox is unbounded (default
%% message_queue_data, on_heap) and grows as long as the producer is ahead.
%% counting_rss is VmHWM of the beam OS process (peak since the VM started).

counting(Suffix, Q) ->
    N = scale(10000000, Q),
    Counter = spawn(?MODULE, counter_loop, [0]),
    T0 = now_ns(),
    spawn(?MODULE, produce, [self(), Counter, N]),
    receive {counted, Sum} -> ok end,
    T1 = now_ns(),
    exit(Counter, kill),
    Expect = N * (N - 1) div 2,
    Sum =:= Expect orelse error({counting_mismatch, Sum, Expect}),
    emit("counting", Suffix, "msgs/s", round(N / ((T1 - T0) / 1.0e9))),
    emit("counting_rss", Suffix, "MB", proc_status_kb("VmHWM") / 1024).

produce(Driver, Counter, N) ->
    send_all(Counter, 0, N),
    Counter ! {get, self()},
    receive {total, Sum} -> Driver ! {counted, Sum} end.

send_all(_Counter, N, N) -> ok;
send_all(Counter, I, N) ->
    Counter ! I,
    send_all(Counter, I + 1, N).

counter_loop(Sum) ->
    receive
        I when is_integer(I) -> counter_loop(Sum + I);
        {get, From} -> From ! {total, Sum}, counter_loop(Sum)
    end.

%% -- 3. threadring -------------------------------------------------------------
%% 503 processes in a ring; the token is decremented on every hop and the node
%% that receives 0 reports. H hops in all.

ring(Suffix, Q) ->
    Hops = scale(10000000, Q),
    Self = self(),
    Nodes = [spawn(?MODULE, ring_node, [Self, undefined]) || _ <- lists:seq(1, ?RING_SIZE)],
    Nexts = tl(Nodes) ++ [hd(Nodes)],
    lists:foreach(fun({P, Nx}) -> P ! {next, Nx} end, lists:zip(Nodes, Nexts)),
    T0 = now_ns(),
    hd(Nodes) ! Hops,
    receive ring_done -> ok end,
    T1 = now_ns(),
    lists:foreach(fun(P) -> exit(P, kill) end, Nodes),
    emit("ring", Suffix, "hops/s", round(Hops / ((T1 - T0) / 1.0e9))).

ring_node(Driver, Next) ->
    receive
        0 -> Driver ! ring_done, ring_node(Driver, Next);
        T when is_integer(T) -> Next ! T - 1, ring_node(Driver, Next);
        {next, Nx} -> ring_node(Driver, Nx)
    end.

%% -- 4. spawn ------------------------------------------------------------------
%% Spawn N processes that each bump a shared counter (the `counters` module)
%% and then block in receive. spawn_t = time from the first spawn until the
%% counter reaches N (every process has run up to its receive), per process.
%% spawn_bytes = erlang:memory(processes) delta over the spawn, minus the growth
%% of the driver's own process (it holds the list of pids), divided by N; both
%% measured after a GC of the driver. (This counts process control block, heap
%% and stack, as allocated by the VM; not the process table, preallocated by +P.)
%% spawn_reap = after monitoring every process (not timed), time from the first
%% `stop` sent until the driver has received all N 'DOWN' messages: a 'DOWN' is
%% sent by the VM only once the process has exited, so it is the "all gone" mark.

spawn_bench(Suffix, Q) ->
    N = scale(1000000, Q),
    C = counters:new(1, []),
    garbage_collect(),
    Mem0 = erlang:memory(processes),
    {memory, Own0} = process_info(self(), memory),
    T0 = now_ns(),
    Pids = spawn_n(N, C, []),
    wait_count(C, N),
    T1 = now_ns(),
    garbage_collect(),
    Mem1 = erlang:memory(processes),
    {memory, Own1} = process_info(self(), memory),
    emit("spawn", Suffix, "ns/actor", (T1 - T0) / N),
    emit("spawn_bytes", Suffix, "bytes/actor", round(((Mem1 - Mem0) - (Own1 - Own0)) / N)),
    lists:foreach(fun(P) -> erlang:monitor(process, P) end, Pids),
    T2 = now_ns(),
    lists:foreach(fun(P) -> P ! stop end, Pids),
    wait_down(N),
    T3 = now_ns(),
    emit("spawn_reap", Suffix, "ms", (T3 - T2) / 1.0e6).

spawn_n(0, _C, Acc) -> Acc;
spawn_n(K, C, Acc) -> spawn_n(K - 1, C, [spawn(?MODULE, idle, [C]) | Acc]).

idle(C) ->
    counters:add(C, 1, 1),
    receive stop -> ok end.

wait_count(C, N) ->
    case counters:get(C, 1) of
        N -> ok;
        _ -> receive after 1 -> wait_count(C, N) end
    end.

wait_down(0) -> ok;
wait_down(K) ->
    receive {'DOWN', _, process, _, _} -> wait_down(K - 1) end.

%% -- 5. restart ----------------------------------------------------------------
%% A real OTP supervisor (one_for_one, intensity 1000000 in 1 s so it never
%% gives up) with one permanent gen_server worker. The driver casts `crash`; the
%% worker stores the monotonic time in an atomics cell and raises. The
%% supervisor restarts it; the new worker's init/1 takes the time first thing
%% and sends it to the driver. Latency = init time - crash time.
%% The logger's primary level is set to none for this benchmark: otherwise each
%% crash formats and prints a gen_server crash report and a supervisor report,
%% which would be measured instead of the restart.

restart(Suffix, Q) ->
    K = scale(10000, Q),
    logger:set_primary_config(level, none),
    process_flag(trap_exit, true),
    A = atomics:new(1, [{signed, true}]),
    {ok, Sup} = supervisor:start_link(?MODULE, {sup, self(), A}),
    First = receive {up, P0, _} -> P0 end,
    Lats = restart_loop(K, First, A, []),
    unlink(Sup),
    exit(Sup, shutdown),
    [P50, P99] = percentiles(Lats, [0.50, 0.99]),
    emit("restart_p50", Suffix, "ns", P50),
    emit("restart_p99", Suffix, "ns", P99).

restart_loop(0, _Worker, _A, Acc) -> Acc;
restart_loop(K, Worker, A, Acc) ->
    gen_server:cast(Worker, crash),
    receive
        {up, New, T1} ->
            restart_loop(K - 1, New, A, [T1 - atomics:get(A, 1) | Acc])
    end.

start_worker(Driver, A) ->
    gen_server:start_link(?MODULE, {worker, Driver, A}, []).

init({sup, Driver, A}) ->
    Flags = #{strategy => one_for_one, intensity => 1000000, period => 1},
    Child = #{id => worker,
              start => {?MODULE, start_worker, [Driver, A]},
              restart => permanent,
              shutdown => brutal_kill,
              type => worker},
    {ok, {Flags, [Child]}};
init({worker, Driver, A}) ->
    T1 = now_ns(),
    Driver ! {up, self(), T1},
    {ok, A}.

handle_cast(crash, A) ->
    atomics:put(A, 1, now_ns()),
    erlang:error(crash).

handle_call(_Req, _From, A) -> {reply, ok, A}.
handle_info(_Msg, A) -> {noreply, A}.
terminate(_Reason, _A) -> ok.
