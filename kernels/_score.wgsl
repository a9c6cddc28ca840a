// Shared by mask.wgsl, select_region.wgsl and select_segment.wgsl (included by
// `// #include "_score.wgsl"`): the score of weight w[idx] in column c of a region, as the f32 bit
// pattern with the sign bit cleared (-0 reads as +0), so that scores order like their bits.
//   MODE 0: |w|                              (magnitude)
//   MODE 1: |w| * sqrt(colVec[colOff + c])   (Wanda, colVec = mean squared column norms)
// The including kernel declares `w`, `colVec`, the uniform `p` with field `colOff`, and
// `override MODE: u32`.

fn scoreBits(idx: u32, c: u32) -> u32 {
  let x = w[idx];
  var s: f32;
  if (MODE == 1u) {
    s = abs(x) * sqrt(colVec[p.colOff + c]);
  } else {
    s = abs(x);
  }
  return bitcast<u32>(s) & 0x7fffffffu;
}
