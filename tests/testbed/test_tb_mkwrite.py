"""mmsim.testbed.mkwrite: chapter 05's experiments, against what the chapter says of them."""

import errno

import pytest

from mmsim.testbed.mkwrite import (CONFIGS, EXT2_DRIVER, WAYS, bring_in, call_chain, configs,
                                   first_write, full_filesystem, hook_of, label, mkwrite_in,
                                   stores_after_mlock)
from mmsim.testbed import new_machine

HOOKED = ("ext4", "ext4 nodelalloc", "xfs", "btrfs", "gfs2")   # a ->page_mkwrite since 2.6.x


def test_which_mounts_have_the_hook_per_kernel(kernel):
    names = {}
    for fs, options in configs(kernel):
        m, _ = new_machine(kernel, fs, options=options)
        names[label(fs, options)] = hook_of(m)
    if kernel == "6.18":
        assert names["ext2"] == names["ext3"] == ("fs/ext4", "ext4_page_mkwrite")
        assert names["ext2 (ext2_driver)"] == ("fs/ext2", "filemap_page_mkwrite")
        assert names["xfs"] == ("fs/xfs", "xfs_filemap_page_mkwrite")
    else:
        assert EXT2_DRIVER not in configs(kernel) and len(names) == len(CONFIGS)
        assert names["ext2"] == ("fs/ext2", None) and names["ext3"] == ("fs/ext3", None)
        assert names["xfs"] == ("fs/xfs", "xfs_vm_page_mkwrite")
    assert all(names[n][1] for n in HOOKED)


def test_2637_mlock_reserves_the_whole_file_and_later_kernels_one_page_per_store(kernel):
    for fs, options in configs(kernel):
        r = first_write(kernel, fs, options)
        mlock, store = r["after_mlock"], r["after_store"]
        if kernel == "2.6.37":
            blocks = 8192 if r["hook"] else 0
            assert (mlock["Dirty"], mlock["st_blocks"], store["st_blocks"]) == (4096, blocks, blocks)
            assert mlock["mkwrite"] == (1024 if r["hook"] else 0) and store["faults"] == 0
            assert r["store_path"] == ()
        else:
            assert (mlock["Dirty"], mlock["st_blocks"], mlock["mkwrite"]) == (0, 0, 0)
            assert store["faults"] == 1 and store["Dirty"] == 4
            assert store["mkwrite"] == (1 if r["hook"] else 0)
            generic = r["hook"] in (None, "filemap_page_mkwrite")
            assert store["st_blocks"] == (0 if generic else 8)
            assert "do_wp_page" in r["store_path"] and mkwrite_in(r["store_path"]) == (r["hook"] or "none")


def test_what_the_hook_did_is_read_back_from_fiemap():
    did = {label(fs, o): first_write("2.6.38", fs, o)["did"] for fs, o in CONFIGS}
    assert did["ext4"] == did["xfs"] == did["btrfs"] == "reserves (delayed allocation)"
    assert did["ext4 nodelalloc"] == did["gfs2"] == "allocates the block"
    assert did["ext2"] == did["ext3"] == "no hook"
    assert first_write("6.18", *EXT2_DRIVER)["did"] == "nothing (dirties the page only)"


def test_call_chain_nests_the_hook_and_the_dirtying_under_the_fault_handler():
    r = first_write("2.6.38", "ext4")
    assert r["store_path"] == ("do_page_fault", "handle_mm_fault", "do_wp_page", "ext4_page_mkwrite",
                               "set_page_dirty", "balance_dirty_pages_ratelimited")
    depths, files = r["store_chain"]
    assert depths == [0, 1, 2, 3, 3, 3]
    assert files[0] == "arch/x86/mm/fault.c" and files[3] == "fs/ext4/inode.c"
    old = first_write("2.6.37", "ext4")
    depths, files = old["mlock_chain"]
    path = old["mlock_path"]
    assert path[0] == "__mlock_vma_pages_range" and files[1] == "mm/memory.c"
    assert depths[path.index("zero_user_segment")] == depths[path.index("filemap_fault")] + 1
    assert depths[path.index("ext4_page_mkwrite")] == depths[path.index("__do_fault")] + 1
    today = first_write("6.18", "xfs")
    depths, files = today["store_chain"]
    assert today["store_path"][-2:] == ("xfs_filemap_page_mkwrite", "fault_dirty_shared_page")
    assert depths[-1] == depths[-2] == depths[today["store_path"].index("do_wp_page")] + 1
    assert files[-2] == "fs/xfs/xfs_file.c"
    assert call_chain("6.18", ("populate_vma_page_range", "__get_user_pages"))[1] == \
        ["mm/gup.c", "mm/gup.c"]
    assert call_chain("2.6.38", ()) == ([], [])


def test_ted_the_hook_runs_once_per_page_really_written():
    new, old = stores_after_mlock("2.6.38", "ext4"), stores_after_mlock("2.6.37", "ext4")
    assert new["stored"] == old["stored"] == 128
    assert (new["mlock"]["mkwrite"], new["first pass"]["faults"], new["first pass"]["mkwrite"]) == (0, 128, 128)
    assert (new["second pass"]["faults"], new["second pass"]["st_blocks"]) == (0, 128 * 8)
    assert (old["mlock"]["mkwrite"], old["first pass"]["faults"], old["second pass"]["st_blocks"]) == \
        (1024, 0, 1024 * 8)
    ext3 = stores_after_mlock("2.6.38", "ext3")
    assert ext3["first pass"]["faults"] == 128 and ext3["first pass"]["mkwrite"] == 0
    with pytest.raises(OSError) as e:
        stores_after_mlock("2.6.38", "ext4", every=0)
    assert e.value.errno == errno.EINVAL


def test_nicks_alternatives_per_kernel():
    for kernel in ("2.6.37", "2.6.38"):
        assert bring_in(kernel, "mlock2(MLOCK_ONFAULT)")["error"] == "ENOSYS"
        assert bring_in(kernel, "MADV_POPULATE_WRITE")["error"] == "EINVAL"
    assert bring_in("2.6.37", "mmap(MAP_POPULATE)")["st_blocks"] == 8192
    today = {way: bring_in("6.18", way) for way in WAYS}
    assert all(r["error"] == "" for r in today.values())
    onfault = today["mlock2(MLOCK_ONFAULT)"]
    assert (onfault["Rss"], onfault["Locked"], onfault["st_blocks"]) == (0, 4096, 0)
    write = today["MADV_POPULATE_WRITE"]
    assert (write["Dirty"], write["st_blocks"], write["mkwrite"], write["Locked"]) == (4096, 8192, 1024, 0)
    assert write["store_faults"] == 0
    for way in ("mlock", "mmap(MAP_POPULATE)", "MADV_POPULATE_READ"):
        assert (today[way]["Rss"], today[way]["Dirty"], today[way]["store_faults"]) == (4096, 0, 1)
    with pytest.raises(OSError) as e:
        bring_in("6.18", "mlock3")
    assert e.value.errno == errno.EINVAL


def test_where_a_full_filesystem_reports_enospc():
    old = full_filesystem("2.6.37", "mlock")
    assert old["error"] == "ENOMEM" and old["after_call"]["Dirty"] == 4096
    new = full_filesystem("2.6.38", "mlock")
    assert new["error"] == "" and new["after_call"]["Dirty"] == 0
    assert (new["signal"], new["at_page"], new["st_blocks"]) == ("SIGBUS", 1024, 8192)
    populate = full_filesystem("6.18", "MADV_POPULATE_WRITE")
    assert populate["error"] == "EFAULT" and populate["after_call"]["st_blocks"] == 8192
    ext3 = full_filesystem("2.6.38", "mlock", fs="ext3")
    assert (ext3["signal"], ext3["Dirty"], ext3["st_blocks"]) == ("", 8192, 0)
    with pytest.raises(OSError) as e:
        full_filesystem("2.6.38", "mlock", fs="reiserfs")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError) as e:
        full_filesystem("2.6.38", "fallocate")
    assert e.value.errno == errno.EINVAL
