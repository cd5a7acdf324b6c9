// oryx's WHEP client and player choice, shared by the console and the /play page: WebRTC over WHEP
// first, the browser's own HLS next (Safari), else a clear message. No third-party code.
'use strict';

// Resolves when ICE gathering completes (non-trickle WHEP) or after `ms`, whichever is first.
function oryxIceGathered(pc, ms) {
  return new Promise(resolve => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

// Plays `url` (a WHEP endpoint) into `video`; resolves with a session whose close() sends DELETE.
async function oryxWhep(video, url, log) {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.addTransceiver('audio', { direction: 'recvonly' });
  const media = new MediaStream();
  pc.ontrack = event => {
    media.addTrack(event.track);
    video.srcObject = media;
  };
  let location = null;
  const close = () => {
    pc.close();
    if (location) fetch(location, { method: 'DELETE' }).catch(() => {});
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await oryxIceGathered(pc, 1500);
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp' },
      body: pc.localDescription.sdp,
    });
    if (answer.status !== 201) {
      const why = (await answer.text()).trim().slice(0, 200);
      throw new Error('WHEP answered ' + answer.status + (why ? ': ' + why : ''));
    }
    const where = answer.headers.get('Location');
    // `url` may be relative (the /play page's): resolve against the page, then the Location.
    if (where) location = new URL(where, new URL(url, document.baseURI)).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: await answer.text() });
    await new Promise((resolve, reject) => {
      const check = () => {
        const state = pc.connectionState;
        if (state === 'connected') resolve();
        if (state === 'failed' || state === 'closed') {
          reject(new Error('WebRTC ' + state + ': the browser could not reach the worker over UDP ' +
            '(check the worker\'s webrtc candidate addresses)'));
        }
      };
      pc.addEventListener('connectionstatechange', check);
      setTimeout(() => reject(new Error('WebRTC did not connect within 8 s')), 8000);
      check();
    });
    video.play().catch(err => log && log('play: ' + err.message));
    return { kind: 'webrtc', pc, close };
  } catch (err) {
    close();
    throw err;
  }
}

// WHEP, else native HLS, else an error saying neither works here. `log` gets progress lines.
async function oryxPlay(video, urls, log) {
  const say = log || (() => {});
  if (window.RTCPeerConnection && urls.whep) {
    try {
      return await oryxWhep(video, urls.whep, say);
    } catch (err) {
      say('WebRTC: ' + err.message);
    }
  } else {
    say('WebRTC: not available in this browser');
  }
  if (urls.hls && video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = urls.hls;
    video.play().catch(err => say('play: ' + err.message));
    return {
      kind: 'hls',
      close() { video.removeAttribute('src'); video.load(); },
    };
  }
  throw new Error('This browser can play this stream neither over WebRTC nor as native HLS. ' +
    'Open the HLS URL in Safari or a player such as VLC or ffplay: ' + (urls.hls || ''));
}
