//! The gRPC codec of every edusync service: prost's, except that a message
//! that does not decode is the sender's fault and says so. prost's codec
//! answers INTERNAL (as gRPC's table suggests for a library's own parse
//! failures); for a node taking input from anyone, bytes that are not the
//! message the method expects are an invalid argument, and the client must
//! be told to fix them rather than to report a server fault.

use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::prost::Message;

/// Used by the generated clients and servers (`codec_path` in build.rs).
#[derive(Debug, Clone)]
pub struct Codec<T, U>(tonic_prost::ProstCodec<T, U>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Codec(tonic_prost::ProstCodec::default())
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = tonic_prost::ProstEncoder<T>;
    type Decoder = InputDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        InputDecoder(self.0.decoder())
    }
}

/// prost's decoder, with decode failures as INVALID_ARGUMENT.
#[derive(Debug)]
pub struct InputDecoder<U>(tonic_prost::ProstDecoder<U>);

impl<U: Message + Default> Decoder for InputDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|status| match status.code() {
            Code::Internal => Status::invalid_argument(format!(
                "the message is not a valid {}: {}; send the message this method expects",
                std::any::type_name::<U>().rsplit("::").next().unwrap_or("message"),
                status.message()
            )),
            _ => status,
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
