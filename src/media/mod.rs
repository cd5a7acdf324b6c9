//! Media containers: FLV tags, H.264/AAC headers, the MPEG-TS muxer and the HLS segmenter.
