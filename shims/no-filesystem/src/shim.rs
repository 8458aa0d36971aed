//! The shim itself; see the crate's documentation.

extern crate alloc;

wit_bindgen::generate!({ path: "wit", world: "no-filesystem", generate_all });

use alloc::string::String;
use alloc::vec::Vec;

use exports::wasi::filesystem::preopens;
use exports::wasi::filesystem::types::{
    self, Advice, DescriptorBorrow, DescriptorFlags, DescriptorStat, DescriptorType,
    DirectoryEntry, DirectoryEntryStream, ErrorCode, Filesize, MetadataHashValue, NewTimestamp,
    OpenFlags, PathFlags,
};
use wasi::io::streams::{Error, InputStream, OutputStream};

struct Shim;

/// A descriptor or directory stream: there are none.
pub enum Never {}

impl preopens::Guest for Shim {
    fn get_directories() -> Vec<(types::Descriptor, String)> {
        Vec::new()
    }
}

impl types::Guest for Shim {
    type Descriptor = Never;
    type DirectoryEntryStream = Never;

    fn filesystem_error_code(_: &Error) -> Option<ErrorCode> {
        // A stream error from any other source is not a filesystem error.
        None
    }
}

impl types::GuestDescriptor for Never {
    fn read_via_stream(&self, _: Filesize) -> Result<InputStream, ErrorCode> {
        match *self {}
    }
    fn write_via_stream(&self, _: Filesize) -> Result<OutputStream, ErrorCode> {
        match *self {}
    }
    fn append_via_stream(&self) -> Result<OutputStream, ErrorCode> {
        match *self {}
    }
    fn advise(&self, _: Filesize, _: Filesize, _: Advice) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn sync_data(&self) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn get_flags(&self) -> Result<DescriptorFlags, ErrorCode> {
        match *self {}
    }
    fn get_type(&self) -> Result<DescriptorType, ErrorCode> {
        match *self {}
    }
    fn set_size(&self, _: Filesize) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn set_times(&self, _: NewTimestamp, _: NewTimestamp) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn read(&self, _: Filesize, _: Filesize) -> Result<(Vec<u8>, bool), ErrorCode> {
        match *self {}
    }
    fn write(&self, _: Vec<u8>, _: Filesize) -> Result<Filesize, ErrorCode> {
        match *self {}
    }
    fn read_directory(&self) -> Result<DirectoryEntryStream, ErrorCode> {
        match *self {}
    }
    fn sync(&self) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn create_directory_at(&self, _: String) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn stat(&self) -> Result<DescriptorStat, ErrorCode> {
        match *self {}
    }
    fn stat_at(&self, _: PathFlags, _: String) -> Result<DescriptorStat, ErrorCode> {
        match *self {}
    }
    fn set_times_at(
        &self,
        _: PathFlags,
        _: String,
        _: NewTimestamp,
        _: NewTimestamp,
    ) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn link_at(
        &self,
        _: PathFlags,
        _: String,
        _: DescriptorBorrow<'_>,
        _: String,
    ) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn open_at(
        &self,
        _: PathFlags,
        _: String,
        _: OpenFlags,
        _: DescriptorFlags,
    ) -> Result<types::Descriptor, ErrorCode> {
        match *self {}
    }
    fn readlink_at(&self, _: String) -> Result<String, ErrorCode> {
        match *self {}
    }
    fn remove_directory_at(&self, _: String) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn rename_at(&self, _: String, _: DescriptorBorrow<'_>, _: String) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn symlink_at(&self, _: String, _: String) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn unlink_file_at(&self, _: String) -> Result<(), ErrorCode> {
        match *self {}
    }
    fn is_same_object(&self, _: DescriptorBorrow<'_>) -> bool {
        match *self {}
    }
    fn metadata_hash(&self) -> Result<MetadataHashValue, ErrorCode> {
        match *self {}
    }
    fn metadata_hash_at(&self, _: PathFlags, _: String) -> Result<MetadataHashValue, ErrorCode> {
        match *self {}
    }
}

impl types::GuestDirectoryEntryStream for Never {
    fn read_directory_entry(&self) -> Result<Option<DirectoryEntry>, ErrorCode> {
        match *self {}
    }
}

export!(Shim);

/// Nothing here allocates: the one list handed out is empty, and the only calls that would
/// take a string need a descriptor first. An allocation that did happen fails (and traps)
/// rather than quietly growing a heap this component has no use for.
mod no_heap {
    struct NoHeap;

    unsafe impl core::alloc::GlobalAlloc for NoHeap {
        unsafe fn alloc(&self, _: core::alloc::Layout) -> *mut u8 {
            core::ptr::null_mut()
        }
        unsafe fn dealloc(&self, _: *mut u8, _: core::alloc::Layout) {}
    }

    #[global_allocator]
    static HEAP: NoHeap = NoHeap;

    /// The canonical ABI's allocator, which wasi-libc would provide with std. Lowering a
    /// string or list into this component calls it, and every function that takes one is
    /// a method on a resource that never exists, so no call can reach it.
    #[unsafe(no_mangle)]
    unsafe extern "C" fn cabi_realloc(_: *mut u8, _: usize, _: usize, _: usize) -> *mut u8 {
        core::arch::wasm32::unreachable()
    }

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }
}
