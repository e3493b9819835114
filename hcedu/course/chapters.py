"""The chapter map (COURSE.md §1): number -> notebook, title, source section."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chapter", "CHAPTERS", "chapter"]


@dataclass(frozen=True)
class Chapter:
    number: str
    slug: str
    title: str
    source: str

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.number}_{self.slug}.ipynb"


CHAPTERS: dict[str, Chapter] = {c.number: c for c in [
    Chapter("00", "start_here", "Start here: how the course works, Little's law live", "—"),
    Chapter("01", "goroutines_and_threads", "Goroutines vs threads, and the GMP scheduler", "1 Goroutine与线程的区别"),
    Chapter("02", "channels", "Channels and select, as Go builds them", "1 Channel的底层实现原理"),
    Chapter("03", "sync_pool", "sync.Pool and its victim cache", "1 高并发场景下的sync.Pool应用"),
    Chapter("04", "goroutine_lifecycle", "Goroutine lifecycle: start, stop, leak", "2.1 goroutine在高并发场景下的生命周期管理"),
    Chapter("05", "redis_connection_pool", "Redis connection pools, measured against Little's law", "2.2 Redis连接池配置与Go客户端性能调优实践"),
    Chapter("06", "context_timeouts", "context: timeouts and cancellation down a call chain", "2.3 利用context控制并发请求的超时与取消"),
    Chapter("07", "channel_redis_queue", "Channel + Redis message queue: back-pressure, reliable delivery", "2.4 Channel与Redis消息队列的联合应用模式"),
    Chapter("08", "distributed_lock", "Redis distributed locks, and every way they break", "2.5 并发读写冲突下Redis分布式锁的Go实现方案"),
    Chapter("09", "flash_sale", "Flash sale: cache breakdown, rate limiting, no oversell", "3.1 秒杀系统中Redis缓存击穿与Go限流策略"),
    Chapter("10", "sessions", "Distributed sessions with sliding expiry", "3.2 用户会话管理中的Redis过期机制与Go中间件设计"),
    Chapter("11", "delay_queue", "Delay queues for order timeouts", "3.3 订单超时关闭场景下的延迟队列与定时任务协调"),
    Chapter("12", "two_level_cache", "Two-level cache and invalidation", "4.1 实现一个支持TTL的本地+Redis双层缓存系统"),
    Chapter("13", "leaderboard", "Leaderboards on sorted sets", "4.2 基于Redis ZSet的实时排行榜Go服务开发"),
    Chapter("14", "counters", "Counters under contention", "4.3 高频计数场景下的原子操作与性能瓶颈优化"),
    Chapter("15", "cache_consistency", "Cache/DB consistency strategies", "4.4 分布式环境下Go服务的缓存一致性保障策略"),
    Chapter("16", "capstone", "Capstone: the flash-sale system end to end", "5 总结与展望"),
    Chapter("17", "beyond_one_redis", "Beyond one Redis: a real cluster, and a failover that breaks a lock", "—"),
]}


def chapter(number: str | int) -> Chapter:
    """Look up a chapter by number (``"08"``, ``"8"`` or ``8``); ValueError for an unknown one."""
    if isinstance(number, bool) or not isinstance(number, (str, int)):
        raise TypeError(f"chapter must be a str or int such as '08' (got {type(number).__name__})")
    key = f"{int(number):02d}" if str(number).isdigit() else str(number)
    if key not in CHAPTERS:
        raise ValueError(f"chapter must be one of {', '.join(CHAPTERS)} (got {number!r})")
    return CHAPTERS[key]
